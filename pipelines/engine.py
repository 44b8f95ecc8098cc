"""The conversation engine: dialogue -> splitter -> tts -> vc -> face -> sink.

Each stage runs in its own ``StageWorker`` thread; neighbours are linked by
blocking queues.  The engine owns turn ids, interrupts, the single error
handler, per-turn timings and the conversation log.  Front-ends (``main_demo``,
the Qt app, benchmarks) drive it through ``submit`` / ``interrupt`` / ``clear``
and listen with ``subscribe``.
"""

from __future__ import annotations

import itertools
import logging
import queue
import resource
import threading
import time
from pathlib import Path
from typing import Callable

from .conversation_log import ConversationLog
from .messages import Cancel, IdleRequest, Reset, StageError, TextChunk, TurnEnd, TurnFinished, UserTurn
from .persona import Persona
from .registry import build_stage
from .settings import Settings
from .sinks import FileSink
from .splitter import SplitterStage
from .stage import Stage
from .turn_record import StageFigures, TurnRecord
from .worker import SENTINEL, StageWorker, TurnGate, drop_turn

log = logging.getLogger(__name__)

STAGE_ORDER = ("dialogue", "splitter", "tts", "vc", "face", "sink")
#: finished turn records kept in memory for ``wait`` / ``record``
KEEP_RECORDS = 256
#: a listener gets (stage name or "engine", message) from the worker threads
Listener = Callable[[str, object], None]


class EngineError(RuntimeError):
    pass


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        stages: dict[str, Stage] | None = None,
        sink: Stage | None = None,
        out_path: str | Path | None = None,
        log_path: str | Path | None = None,
    ) -> None:
        """``stages`` replaces built stages by name (tests, GUI); ``sink`` replaces the MP4 writer."""
        self.settings = settings
        self._overrides = dict(stages or {})
        if sink is not None:
            self._overrides["sink"] = sink
        self._out_path = out_path
        self.log = ConversationLog(log_path or settings.output_path / "conversation.jsonl")
        self.persona: Persona | None = None
        self.stages: dict[str, Stage] = {}
        self.workers: list[StageWorker] = []
        self.inboxes: list[queue.Queue] = []
        self.gate = TurnGate()
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._active: int | None = None
        self._records: dict[int, TurnRecord] = {}
        self._done: dict[int, threading.Event] = {}
        self._started = False

    # -- life cycle ---------------------------------------------------------
    def build_stages(self) -> dict[str, Stage]:
        s = self.settings
        self.persona = Persona.load(s.persona_dir)
        stages: dict[str, Stage] = {}
        failures = []
        for name in STAGE_ORDER:
            if name in self._overrides:
                stages[name] = self._overrides[name]
            elif name == "splitter":
                stages[name] = SplitterStage(min_chars=s.min_sentence_chars)
            elif name == "sink":
                stages[name] = FileSink(
                    s.output_path, self._out_path, keep_turns=s.output.keep_turns, keep_mb=s.output.keep_mb
                )
            else:
                try:
                    stages[name] = build_stage(name, s, self.persona)
                except Exception as exc:
                    failures.append(f"stage '{name}' could not be built: {type(exc).__name__}: {exc}")
        if failures:
            raise EngineError("\n".join(failures))
        return stages

    def start(self) -> "Engine":
        if self._started:
            return self
        if self.settings.threads:
            try:
                import torch

                torch.set_num_threads(self.settings.threads)
            except ImportError:
                pass
        self.stages = self.build_stages()
        self.inboxes = [queue.Queue() for _ in STAGE_ORDER]
        for i, name in enumerate(STAGE_ORDER):
            outbox = self.inboxes[i + 1] if i + 1 < len(STAGE_ORDER) else None
            self.workers.append(
                StageWorker(
                    self.stages[name],
                    self.inboxes[i],
                    outbox,
                    self.gate,
                    on_error=self._on_error,
                    on_output=self._on_output,
                )
            )
        for w in self.workers:
            w.start()
        failures = []
        for w in self.workers:
            w.loaded.wait()
            if w.load_error is not None:
                failures.append(
                    f"stage '{w.stage.name}' ({w.stage.backend}) could not load: "
                    f"{type(w.load_error).__name__}: {w.load_error}"
                )
        self._started = True
        if failures:
            self.close()
            raise EngineError("\n".join(failures))
        return self

    def close(self) -> None:
        """Stop every worker (each closes its stage) and wait for them."""
        for q in self.inboxes:
            q.put(SENTINEL)
        for w in self.workers:
            if w.is_alive():
                w.join(timeout=30)
        self.workers.clear()
        self._started = False

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict[str, str]:
        return {name: stage.backend or type(stage).__name__ for name, stage in self.stages.items()}

    def idle_frames(self, n: int = 75, timeout: float = 120.0):
        """The face stage's idle loop ``(frames or None, fps)``, rendered on the face worker's thread."""
        from concurrent.futures import Future

        names = [w.stage.name for w in self.workers]
        if "face" not in names:
            return None, float(self.settings.face.fps)
        fut: Future = Future()
        self.inboxes[names.index("face")].put(IdleRequest(n, fut))
        return fut.result(timeout)

    # -- listeners ----------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _publish(self, stage: str, msg: object) -> None:
        for fn in list(self._listeners):
            try:
                fn(stage, msg)
            except Exception:  # a broken listener must not kill a stage
                log.exception("listener failed on %s from %s", type(msg).__name__, stage)

    # -- turns ----------------------------------------------------------------
    def number_turns_after(self, last_turn_id: int) -> None:
        """Number this engine's turns from ``last_turn_id + 1`` (an engine reloaded in the same app:
        turn ids never repeat, so its listeners never mistake a new turn for an old one)."""
        with self._lock:
            self._ids = itertools.count(int(last_turn_id) + 1)

    def submit(self, text: str, *, speech: dict | None = None) -> int:
        """Start a turn; an unfinished earlier turn is interrupted first.

        ``speech``: facts of a spoken turn (audio seconds, recognised text), kept in the record."""
        if not self._started:
            raise EngineError("engine not started: call start() first")
        text = text.strip()
        if not text:
            raise ValueError("empty message: type something to say")
        with self._lock:
            if self._active is not None:
                self._cancel(self._active, "interrupted")
            turn_id = next(self._ids)
            rec = TurnRecord(turn_id, text, t0=time.perf_counter(), speech=speech)
            for old in [t for t in self._records if t <= turn_id - KEEP_RECORDS]:
                self._records.pop(old, None)  # a long session keeps only recent turns in memory
                self._done.pop(old, None)  # (all of them are in the conversation log)
            self._records[turn_id] = rec
            self._done[turn_id] = threading.Event()
            self._active = turn_id
        self.inboxes[0].put(UserTurn(turn_id, text))
        self.inboxes[0].put(TurnEnd(turn_id))
        return turn_id

    def say(self, text: str, *, mode: str = "say") -> int:
        """Speak and animate ``text`` as a turn whose reply is given (the persona's greeting).

        It goes through the splitter, voice, face and sink like a reply, but the dialogue stage
        never sees it: it is not a user turn, not in the dialogue's history and not in the
        conversation log.  Listeners get it as the turn's text (a ``TextChunk`` from "dialogue",
        ``mode``) so front ends show it like a reply."""
        if not self._started:
            raise EngineError("engine not started: call start() first")
        text = text.strip()
        if not text:
            raise ValueError("nothing to say: the text is empty")
        with self._lock:
            if self._active is not None:
                self._cancel(self._active, "interrupted")
            turn_id = next(self._ids)
            rec = TurnRecord(turn_id, "", t0=time.perf_counter(), kind="say")
            self._records[turn_id] = rec
            self._done[turn_id] = threading.Event()
            self._active = turn_id
        chunk = TextChunk(turn_id, text, mode=mode)
        self._on_output("dialogue", chunk)  # the turn's text, as if the dialogue had written it
        after = STAGE_ORDER.index("dialogue") + 1
        self.inboxes[after].put(chunk)
        self.inboxes[after].put(TurnEnd(turn_id))
        return turn_id

    def interrupt(self, turn_id: int | None = None) -> int | None:
        """Stop the running turn at once; nothing more of it reaches the sink.

        ``turn_id``: also a turn that has finished here but whose output a front end is still
        delivering or playing (the app's player): it is marked cancelled, so whatever of it is
        still on its way is dropped (``gate.is_cancelled``); its record keeps its status."""
        with self._lock:
            active = self._active
            if active is not None and turn_id in (None, active):
                self._cancel(active, "interrupted")
                return active
            if turn_id is not None:
                self.gate.cancel(turn_id)
            return turn_id

    def clear(self) -> None:
        """Interrupt, and forget the conversation history."""
        self.interrupt()
        self.inboxes[0].put(Reset())

    def restore_history(self, rounds) -> None:
        """Continue an earlier conversation: (user text, reply) rounds, oldest first, become the
        dialogue's history (instead of whatever it had)."""
        self.inboxes[0].put(Reset(history=tuple((str(q), str(a)) for q, a in rounds)))

    def wait(self, turn_id: int, timeout: float | None = None) -> TurnRecord:
        if not self._done[turn_id].wait(timeout):
            raise TimeoutError(f"turn {turn_id} did not finish within {timeout} s")
        return self._records[turn_id]

    def record(self, turn_id: int) -> TurnRecord:
        return self._records[turn_id]

    @property
    def active_turn(self) -> int | None:
        return self._active

    def _cancel(self, turn_id: int, status: str, error: str | None = None) -> None:
        if not self.gate.cancel(turn_id):
            return
        rec = self._records.get(turn_id)
        if rec is not None and rec.status == "running":
            rec.status, rec.error = status, error
        for q in self.inboxes:
            drop_turn(q, turn_id)
        self._publish("engine", Cancel(turn_id))
        self.inboxes[0].put(Cancel(turn_id))

    # -- callbacks from worker threads ----------------------------------------
    def _on_error(self, err: StageError) -> None:
        log.error("%s", err)  # one line; the traceback only at debug level
        log.debug("%s", err.traceback)
        self._publish("engine", err)
        if err.turn_id in self._records:
            with self._lock:
                self._cancel(err.turn_id, "error", str(err))

    def _on_output(self, stage: str, msg: object) -> None:
        turn_id = getattr(msg, "turn_id", None)
        rec = self._records.get(turn_id) if turn_id is not None else None
        if (
            rec is not None
            and isinstance(msg, TextChunk)
            and stage == "dialogue"
            and not self.gate.is_cancelled(turn_id)
        ):
            if not rec.reply:
                rec.first_text_s = time.perf_counter() - rec.t0
            rec.reply += msg.text
            rec.mode = msg.mode
        self._publish(stage, msg)
        if stage == STAGE_ORDER[-1] and rec is not None and isinstance(msg, (TurnEnd, Cancel)):
            self._finish(rec, msg.info if isinstance(msg, TurnEnd) else {})

    def _finish(self, rec: TurnRecord, info: dict) -> None:
        with self._lock:
            if rec.status == "running":
                rec.status = "ok"
            if self._active == rec.turn_id:
                self._active = None
        now = time.perf_counter()
        rec.wall_s = now - rec.t0
        rec.mode = info.get("mode", rec.mode)
        rec.model = info.get("dialogue_model", rec.model)
        rec.video_path = info.get("video_path")
        busy_media = 0.0
        for w in self.workers:
            t = w.stats.pop(rec.turn_id)
            fig = StageFigures(
                first_output_s=None if t.first_output is None else t.first_output - rec.t0,
                busy_s=t.busy,
                outputs=t.outputs,
            )
            if w.stage.name == "vc":
                rec.audio_s = t.audio_seconds  # seconds of reply audio
            rec.stages[w.stage.name] = fig
            if w.stage.name in ("tts", "vc", "face"):
                busy_media += t.busy
        if rec.audio_s > 0:
            for fig in rec.stages.values():
                fig.rtf = fig.busy_s / rec.audio_s
            rec.rtf = rec.wall_s / rec.audio_s
            rec.render_rtf = busy_media / rec.audio_s
        rec.first_audio_s = rec.stages.get("vc", StageFigures()).first_output_s
        rec.first_frame_s = rec.stages.get("face", StageFigures()).first_output_s
        rec.peak_rss_mb = peak_rss_mb()
        try:
            if rec.kind == "reply":  # what was only said (the greeting) is no part of the conversation
                self.log.append(rec.to_dict())
        except OSError as exc:
            if getattr(exc, "first", True):  # once until it works again
                log.error(
                    "could not append to the conversation log %s (%s): this turn and later ones are not "
                    "logged until it works again; free some space or set --log elsewhere",
                    self.log.path,
                    getattr(exc, "strerror", None) or exc,
                )
        self._done[rec.turn_id].set()
        self._publish("engine", TurnFinished(rec.turn_id, rec))

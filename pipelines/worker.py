"""One background thread per stage, linked by blocking queues.

A worker blocks on its inbox (no polling), drops every message of a cancelled
turn, times the stage, and turns any exception into a ``StageError`` that
travels to the engine's single error handler; the worker itself keeps running,
so the next turn works.
"""

from __future__ import annotations

import dataclasses
import errno
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .messages import AudioChunk, Cancel, ControlMessage, IdleRequest, Message, Reset, StageError, TurnEnd, VideoChunk
from .stage import Stage, TurnContext

#: put on an inbox to make its worker finish (after closing its stage)
SENTINEL = object()

#: what to do when a stage cannot write (the output folder is full or read-only)
_DISK_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or set output_dir / --out on another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or set output_dir / --out elsewhere",
    errno.EROFS: "the folder is read-only: set output_dir / --out to a folder you can write to",
    errno.EACCES: "no permission to write there: set output_dir / --out to a folder you can write to",
}


class TurnGate:
    """Thread-safe record of which turns are cancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled: set[int] = set()

    def cancel(self, turn_id: int) -> bool:
        with self._lock:
            if turn_id in self._cancelled:
                return False
            self._cancelled.add(turn_id)
            return True

    def is_cancelled(self, turn_id: int) -> bool:
        with self._lock:
            return turn_id in self._cancelled


def drop_turn(q: queue.Queue, turn_id: int) -> int:
    """Remove every queued message of ``turn_id`` from ``q``; returns how many."""
    with q.mutex:
        kept = deque(m for m in q.queue if isinstance(m, ControlMessage) or getattr(m, "turn_id", None) != turn_id)
        dropped = len(q.queue) - len(kept)
        q.queue = kept
    return dropped


@dataclass
class StageTiming:
    """Per-turn timings of one stage (seconds; ``perf_counter`` clock)."""

    first_input: float | None = None
    first_output: float | None = None
    last_output: float | None = None
    busy: float = 0.0
    outputs: int = 0
    audio_seconds: float = 0.0  # media seconds produced (audio or video)


@dataclass
class WorkerStats:
    turns: dict[int, StageTiming] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timing(self, turn_id: int) -> StageTiming:
        with self.lock:
            return self.turns.setdefault(turn_id, StageTiming())

    def pop(self, turn_id: int) -> StageTiming:
        with self.lock:
            return self.turns.pop(turn_id, StageTiming())


class StageWorker(threading.Thread):
    """Runs one stage: inbox -> stage -> outbox (or ``on_output`` for the last stage)."""

    def __init__(
        self,
        stage: Stage,
        inbox: queue.Queue,
        outbox: queue.Queue | None,
        gate: TurnGate,
        on_error: Callable[[StageError], None],
        on_output: Callable[[str, object], None] = lambda stage, msg: None,
        manage_stage: bool = True,
    ) -> None:
        """``manage_stage``: load the stage when the thread starts and close it when it ends
        (False for a stage someone else owns, as in ``pipelines.testing.harness``)."""
        super().__init__(name=f"stage-{stage.name}", daemon=True)
        self.stage = stage
        self.inbox = inbox
        self.outbox = outbox
        self.gate = gate
        self.on_error = on_error
        self.on_output = on_output
        self.manage_stage = manage_stage
        self.stats = WorkerStats()
        self.loaded = threading.Event()
        self.load_error: BaseException | None = None
        self._contexts: dict[int, TurnContext] = {}
        #: per turn, the ``seq`` the next published output gets (the one place outputs are numbered)
        self._next_seq: dict[int, int] = {}

    # -- helpers -----------------------------------------------------------
    def _ctx(self, turn_id: int) -> TurnContext:
        ctx = self._contexts.get(turn_id)
        if ctx is None:
            ctx = TurnContext(turn_id, is_cancelled=lambda t=turn_id: self.gate.is_cancelled(t))
            self._contexts[turn_id] = ctx
        return ctx

    def _emit(self, msg: object) -> None:
        if isinstance(msg, Message) and self.gate.is_cancelled(msg.turn_id):
            return  # a cancelled turn's output is never published nor forwarded
        if isinstance(msg, Message) and not isinstance(msg, TurnEnd):
            seq = self._next_seq.get(msg.turn_id, 0)
            self._next_seq[msg.turn_id] = seq + 1
            if msg.seq != seq:
                msg = dataclasses.replace(msg, seq=seq)
        if isinstance(msg, Message):
            t = self.stats.timing(msg.turn_id)
            now = time.perf_counter()
            if t.first_output is None:
                t.first_output = now
            t.last_output = now
            t.outputs += 1
            if isinstance(msg, (AudioChunk, VideoChunk)):
                t.audio_seconds += msg.duration
        self.on_output(self.stage.name, msg)
        if self.outbox is not None:
            self.outbox.put(msg)

    def _report(self, turn_id: int, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, OSError) and exc.errno in _DISK_ADVICE:
            text = f"{exc.strerror} ({exc.filename or 'a file'}): {_DISK_ADVICE[exc.errno]}"
        err = StageError(turn_id, stage=self.stage.name, error=text, traceback=traceback.format_exc())
        self.on_error(err)

    # -- thread body -------------------------------------------------------
    def run(self) -> None:
        try:
            if self.manage_stage:
                self.stage.load()
        except BaseException as exc:  # reported by Engine.start
            self.load_error = exc
            self.loaded.set()
            return
        self.loaded.set()
        try:
            while True:
                msg = self.inbox.get()
                if msg is SENTINEL:
                    break
                self._handle(msg)
        finally:
            try:
                if self.manage_stage:
                    self.stage.close()
            except Exception as exc:  # closing must not hide the real outcome
                self._report(-1, exc)

    def _handle(self, msg: object) -> None:
        if isinstance(msg, IdleRequest):  # answered here, on the stage's own thread; not forwarded
            try:
                msg.result.set_result(self.stage.idle_frames(msg.n))
            except Exception as exc:
                msg.result.set_exception(exc)
                self._report(-1, exc)
            return
        if isinstance(msg, Reset):
            self._next_seq.clear()
            try:
                self.stage.reset()
                if msg.history:
                    self.stage.restore_history(list(msg.history))
            except Exception as exc:
                self._report(-1, exc)
            self._emit(msg)
            return
        if isinstance(msg, Cancel):
            try:
                self.stage.cancel_turn(msg.turn_id)
            except Exception as exc:
                self._report(msg.turn_id, exc)
            self._next_seq.pop(msg.turn_id, None)
            self._contexts.pop(msg.turn_id, None)
            self._emit(msg)
            return
        turn_id = msg.turn_id
        if self.gate.is_cancelled(turn_id):
            return  # dropped: its turn was interrupted
        ctx = self._ctx(turn_id)
        timing = self.stats.timing(turn_id)
        start = time.perf_counter()
        if timing.first_input is None:
            timing.first_input = start
        try:
            if isinstance(msg, TurnEnd):
                outputs = self.stage.end_turn(ctx)
            else:
                outputs = self.stage.process(msg, ctx)
            self._pump(outputs, ctx, timing, start)
            if isinstance(msg, TurnEnd) and not ctx.cancelled:
                self._contexts.pop(turn_id, None)
                self._emit(TurnEnd(turn_id, seq=self._next_seq.pop(turn_id, 0), info={**msg.info, **ctx.info}))
        except Exception as exc:
            timing.busy += time.perf_counter() - start
            self._report(turn_id, exc)

    def _pump(self, outputs, ctx: TurnContext, timing: StageTiming, start: float) -> None:
        """Forward a stage's outputs, stopping at once if the turn is cancelled."""
        it = iter(outputs or ())
        try:
            while True:
                if ctx.cancelled:
                    break
                try:
                    out = next(it)
                except StopIteration:
                    break
                if ctx.cancelled:
                    break
                timing.busy += time.perf_counter() - start
                self._emit(out)
                start = time.perf_counter()
            timing.busy += time.perf_counter() - start
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

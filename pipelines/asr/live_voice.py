"""Live voice input on its own threads: audio blocks in, level / partial text / the user's turn text out.

Two threads, none of them the caller's (the app's GUI thread only gets callbacks):

* the capture thread reads a ``BlockSource`` (the microphone, or a recording
  handed out in real time), measures the level, cuts utterances with the VAD
  and, in hands-free mode, runs the barge-in check against what the player
  plays (``played``: a ``PlayedAudio`` the player fills);
* the recogniser runs as the ``asr`` stage on a ``StageWorker`` (the engine's
  worker: load on its thread, ``process`` per utterance, ``close`` at the end,
  exceptions reported as ``StageError(stage="asr")`` to ``on_error``).

Modes: hands-free (``set_hands_free(True)``): every utterance the VAD cuts
becomes a turn; speech while the avatar talks is its echo unless the barge-in
check says it is the user (then ``on_barge_in(turn)`` fires and that speech is
the next turn).  Push-to-talk: ``press()`` ... ``release()`` - what was heard
in between is one turn.

Callbacks (called on the capture or asr thread): ``on_level(0..1)``,
``on_partial(text)``, ``on_final(text, speech)`` (``speech`` goes to the turn
record: audio seconds, text, backend, and ``end_of_speech`` as a perf_counter
time), ``on_barge_in(turn_id)``, ``on_notice(text)`` (the microphone cannot be
used), ``on_error(StageError)``.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from ..messages import StageError, TurnEnd, UserTurn
from ..worker import SENTINEL, StageWorker, TurnGate
from .audio_input import ASR_RATE
from .barge_in import BargeInDetector, PlayedAudio, rms
from .mic import MicUnavailable
from .sources import BlockSource
from .stage import AsrStage, PartialText, SpokenInput
from .vad import UtteranceCutter, speech_segments

#: the level meter's range: -60 dBFS .. 0 dBFS -> 0 .. 1
FLOOR_DB = -60.0


def level_of(block: np.ndarray) -> float:
    r = rms(block)
    db = 20.0 * math.log10(r) if r > 0 else FLOOR_DB
    return float(min(1.0, max(0.0, (db - FLOOR_DB) / -FLOOR_DB)))


def _noop(*a) -> None:
    pass


class LiveVoice:
    def __init__(
        self,
        settings,
        source_factory: Callable[[], BlockSource],
        *,
        played: PlayedAudio | None = None,
        active_turn: Callable[[], int | None] = lambda: None,
        stage: AsrStage | None = None,
        partial_every_s: float = 0.5,
        on_level: Callable[[float], None] = _noop,
        on_partial: Callable[[str], None] = _noop,
        on_final: Callable[[str, dict], None] = _noop,
        on_barge_in: Callable[[int], None] = _noop,
        on_notice: Callable[[str], None] = _noop,
        on_error: Callable[[StageError], None] = _noop,
        on_listening: Callable[[bool], None] = _noop,
    ) -> None:
        self.settings = settings
        self.source_factory = source_factory
        self.played = played or PlayedAudio()
        self.active_turn = active_turn
        self._stage = stage
        self.partial_every = partial_every_s
        self.on_level, self.on_partial, self.on_final = on_level, on_partial, on_final
        self.on_barge_in, self.on_notice, self.on_error = on_barge_in, on_notice, on_error
        self.on_listening = on_listening
        self.hands_free = False
        self.headphones = bool(settings.asr.headphones)
        self.echo_hang_s = 0.5  # speech this long after the avatar stopped may still be its echo
        self._held = False
        self._release_requested = False
        self._held_audio: list[np.ndarray] = []
        self._release_at: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # start / press / the end of a push-to-talk capture
        self._load_lock = threading.Lock()
        self._exiting = False
        self._thread: threading.Thread | None = None
        self._worker: StageWorker | None = None
        self._inbox: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._pending_partial = threading.Event()  # a partial decode is queued or running
        self._eos: dict[int, float] = {}  # utterance id -> perf_counter time of its end of speech
        self.interrupted: list[int] = []  # turns cut off by barge-in
        self.figures: list[dict] = []  # speech facts of every final, latencies included
        self.source: BlockSource | None = None

    # -- life cycle (any thread) ----------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._exiting

    @property
    def recognising(self) -> bool:
        """Utterances are still waiting for their text."""
        return bool(self._eos)

    def start(self) -> LiveVoice:
        with self._lock:
            if self.running:
                return self
            if self._thread is not None:
                self._thread.join(5.0)  # a push-to-talk capture that is just ending
            self._stop.clear()
            self._exiting = False
            self._thread = threading.Thread(target=self._run, name="voice-capture", daemon=True)
            self._thread.start()
        return self

    def preload(self) -> threading.Thread:
        """Load the recogniser now, on its worker thread (the first press then starts recording at once)."""
        t = threading.Thread(target=self._ensure_worker, name="voice-preload", daemon=True)
        t.start()
        return t

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def set_hands_free(self, on: bool) -> None:
        self.hands_free = bool(on)

    def press(self) -> None:
        """Push-to-talk: start collecting (the capture starts if it was not running)."""
        with self._lock:
            self._held_audio = []
            self._release_requested = False
            self._held = True
        self.start()

    def release(self) -> None:
        """Push-to-talk: what was heard since ``press`` becomes one utterance."""
        self._release_at = time.perf_counter()
        self._release_requested = True  # the capture thread ends the hold with the next block

    # -- capture thread ----------------------------------------------------------
    def _ensure_worker(self) -> bool:
        with self._load_lock:
            return self._worker is not None or self._start_worker()

    def _start_worker(self) -> bool:
        stage = self._stage or AsrStage(self.settings)
        self._stage = stage
        self._worker = StageWorker(
            stage, self._inbox, None, TurnGate(), on_error=self._report, on_output=self._on_asr_output
        )
        self._worker.start()
        self._worker.loaded.wait()
        if self._worker.load_error is not None:
            e = self._worker.load_error
            self.on_notice(f"speech recognition ({self.settings.asr.backend}) could not load: {e}")
            self._worker = None
            return False
        return True

    def _report(self, err: StageError) -> None:
        self._pending_partial.clear()
        self.on_error(err)

    def _run(self) -> None:
        try:
            source = self.source_factory()  # a device source picks its device here: no device, one line
        except MicUnavailable as exc:
            self.on_notice(str(exc))
            return
        except Exception as exc:
            self.on_notice(f"the microphone could not be used: {type(exc).__name__}: {exc}")
            return
        self.source = source
        if not self._ensure_worker():
            return
        try:
            cutter = UtteranceCutter(end_pause_s=self.settings.asr.end_pause_s)
            detector = BargeInDetector(headphones=self.headphones)
        except Exception as exc:
            self.on_notice(f"the voice activity detector could not load: {type(exc).__name__}: {exc}")
            return
        try:
            source.open()  # last: a device starts recording (and a recording its clock) only now
        except Exception as exc:  # a device that fails to open: one line, the app keeps running
            self.on_notice(
                str(exc) if isinstance(exc, MicUnavailable) else f"the microphone could not be opened: {exc}"
            )
            return
        try:
            self.on_listening(True)
            self._loop(source, cutter, detector)
        except Exception as exc:
            self.on_error(StageError(-1, stage="mic", error=f"{type(exc).__name__}: {exc}", traceback=""))
        finally:
            try:
                source.close()
            finally:
                self._exiting = True  # ``running`` is False from here on
                self.on_listening(False)
                self.on_level(0.0)

    def _loop(self, source: BlockSource, cutter: UtteranceCutter, detector: BargeInDetector) -> None:
        stream = 0  # samples read
        echo_utt = False  # the utterance in progress started while the avatar talked
        barged = False
        last_partial = 0.0
        last_talk = -1e9  # when the avatar was last heard talking (its echo lags behind)
        while not self._stop.is_set():
            block = source.read(0.1)
            if block is None:
                if source.finished:
                    break
                continue
            now = time.perf_counter()
            block = np.asarray(block, np.float32).reshape(-1)
            stream += len(block)
            self.on_level(level_of(block))
            ref, played_turn = self.played.read(len(block))
            active = self.active_turn()
            target = played_turn if played_turn is not None else active
            if target in self.interrupted:
                target = None  # already cut off: what trickles in of it is not the avatar talking
            if target is not None:
                last_talk = now
            talking = now - last_talk < self.echo_hang_s

            if self._held:  # push-to-talk
                self._held_audio.append(block)
                held = sum(len(b) for b in self._held_audio) / ASR_RATE
                if self._release_requested:
                    with self._lock:
                        self._held = False
                        took, self._held_audio = self._held_audio, []
                    self._final_held(took, self._release_at or now)
                    last_partial = 0.0
                elif held - last_partial >= self.partial_every:
                    last_partial = held
                    self._partial(np.concatenate(self._held_audio))
                cutter.reset()
                if self._held or self.hands_free:
                    continue
            if not self.hands_free:
                with self._lock:  # push-to-talk only: the microphone closes until the next press
                    if not self._held:
                        self._exiting = True
                        break
                continue
            # barge-in: the user talking over the avatar
            if detector.feed(block, ref, target is not None) and target is not None:
                self.interrupted.append(target)
                self.played.drop(target)
                detector.reset()
                barged = True
                self.on_barge_in(target)
            before = cutter.in_speech
            for utt in cutter.feed(block):
                if echo_utt and not barged:
                    continue  # the avatar's own voice coming back
                eos = now - (stream / ASR_RATE - utt.end_s)
                self._final(utt.samples, eos)
            if cutter.in_speech and not before:
                echo_utt, barged, last_partial = talking, False, 0.0
            if cutter.in_speech and echo_utt and not barged and not talking:
                cutter.reset()  # the avatar stopped while its echo was being cut: start afresh
            if cutter.in_speech and (barged or not echo_utt):
                audio = cutter.partial()
                if len(audio) / ASR_RATE - last_partial >= self.partial_every:
                    last_partial = len(audio) / ASR_RATE
                    self._partial(audio)

    def _partial(self, audio: np.ndarray) -> None:
        if self._pending_partial.is_set() or not self._inbox.empty():
            return  # the recogniser is busy: skip this partial rather than fall behind
        self._pending_partial.set()
        self._inbox.put(SpokenInput(0, audio, ASR_RATE, final=False))
        self._inbox.put(TurnEnd(0))  # answered by the worker whether or not the partial had words

    def _final(self, audio: np.ndarray, eos: float) -> None:
        uid = next(self._ids)
        self._eos[uid] = eos
        self._inbox.put(SpokenInput(uid, audio, ASR_RATE, final=True))
        self._inbox.put(TurnEnd(uid))

    def _final_held(self, blocks: list[np.ndarray], released: float) -> None:
        audio = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        segs = speech_segments(audio, end_pause_s=self.settings.asr.end_pause_s) if len(audio) else []
        if not segs:
            self.on_final("", {"audio_s": round(len(audio) / ASR_RATE, 3), "text": "", "source": "push-to-talk"})
            return
        start = max(0, int((segs[0].start_s - 0.2) * ASR_RATE))
        end = min(len(audio), int((segs[-1].end_s + 0.3) * ASR_RATE))
        self._final(audio[start:end], released)

    # -- asr worker thread ---------------------------------------------------------
    def _on_asr_output(self, stage: str, msg) -> None:
        if isinstance(msg, PartialText):
            self._pending_partial.clear()
            if msg.text:
                self.on_partial(msg.text)
        elif isinstance(msg, TurnEnd) and msg.turn_id == 0:
            self._pending_partial.clear()  # a partial that yielded no text
        elif isinstance(msg, UserTurn) or isinstance(msg, TurnEnd):
            eos = self._eos.pop(msg.turn_id, None)
            if eos is None:
                return  # the TurnEnd after a UserTurn already reported
            speech = dict(self._stage.last_figures, source=getattr(self.source, "name", "mic"))
            speech["end_of_speech"] = eos
            speech["eos_to_text_s"] = round(time.perf_counter() - eos, 4)
            self.figures.append(speech)
            self.on_final(msg.text if isinstance(msg, UserTurn) else "", speech)

    def close(self) -> None:
        self.stop()
        if self._worker is not None:
            self._inbox.put(SENTINEL)
            self._worker.join(30)
            self._worker = None

"""The engine seen from the UI thread: Qt signals for everything it publishes,
and a background thread that loads (and reloads) the models.

The engine calls listeners from its stage worker threads; each message becomes a
signal emitted from that thread, which Qt delivers to the UI thread through its
event queue (queued connection), so no slot ever runs on a worker thread and no
model ever runs on the UI thread.  ``EngineController`` owns the engine: loading
(``Engine.start``), restarting with new settings and closing run in an
``EngineLoader`` QObject moved to its own QThread.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from pipelines.engine import Engine, EngineError
from pipelines.messages import Cancel, Reset, StageError, TextChunk, TurnFinished
from pipelines.settings import Settings
from pipelines.worker import TurnGate

from .player_sink import PlayerSink

log = logging.getLogger(__name__)

#: builds an unstarted engine for the settings, with the app's sink
EngineFactory = Callable[[Settings, PlayerSink], Engine]


def default_engine_factory(settings: Settings, sink: PlayerSink) -> Engine:
    return Engine(settings, sink=sink)


class EngineSignals(QObject):
    """One signal per kind of engine output, delivered on the UI thread.

    The engine's threads emit private ``_raw_*`` signals; Qt queues them to this object's
    slots on the UI thread, which pass on only what is still live at the moment of delivery:
    not of a turn the engine has cancelled since (``TurnGate``), not of an engine that has been
    replaced (its turn ids are at or below ``floor``).  So the window and the player never
    filter anything themselves: what they receive is meant to be shown and heard.
    """

    _raw_text = Signal(int, str, str)
    _raw_video = Signal(object)
    _raw_rendered = Signal(int)

    text = Signal(int, str, str)  # turn_id, piece of reply, mode
    video = Signal(object)  # VideoChunk (from the sink)
    turn_rendered = Signal(int)  # the sink got the turn's last chunk
    finished = Signal(object)  # TurnRecord
    error = Signal(object)  # StageError
    cancelled = Signal(int)  # turn interrupted (published at interrupt time)
    reset = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.gate: TurnGate | None = None  # the running engine's record of cancelled turns
        self.floor = 0  # turn ids up to this one belong to an engine that was replaced
        # queued even when emitted on the UI thread (``Engine.say`` publishes its text there):
        # the window has made the turn's bubble by the time its text arrives
        queued = Qt.ConnectionType.QueuedConnection
        self._raw_text.connect(self._deliver_text, queued)
        self._raw_video.connect(self._deliver_video, queued)
        self._raw_rendered.connect(self._deliver_rendered, queued)

    def attach(self, gate: TurnGate | None, floor: int) -> None:
        """From now on deliver only turns above ``floor`` that ``gate`` has not cancelled."""
        self.gate, self.floor = gate, floor

    def live(self, turn_id: int) -> bool:
        return turn_id > self.floor and not (self.gate is not None and self.gate.is_cancelled(turn_id))

    @Slot(int, str, str)
    def _deliver_text(self, turn_id: int, piece: str, mode: str) -> None:
        if self.live(turn_id):
            self.text.emit(turn_id, piece, mode)

    @Slot(object)
    def _deliver_video(self, chunk) -> None:
        if self.live(chunk.turn_id):
            self.video.emit(chunk)

    @Slot(int)
    def _deliver_rendered(self, turn_id: int) -> None:
        if self.live(turn_id):
            self.turn_rendered.emit(turn_id)

    def listener(self, stage: str, msg: object) -> None:
        if isinstance(msg, TextChunk) and stage == "dialogue":
            self._raw_text.emit(msg.turn_id, msg.text, msg.mode)
        elif stage == "engine":
            if isinstance(msg, TurnFinished):
                self.finished.emit(msg.record)
            elif isinstance(msg, StageError):
                self.error.emit(msg)
            elif isinstance(msg, Cancel):
                self.cancelled.emit(msg.turn_id)
        elif isinstance(msg, Reset) and stage == "sink":
            self.reset.emit()

    def make_sink(self, sample_rate: int | None = None) -> PlayerSink:
        return PlayerSink(on_chunk=self._raw_video.emit, on_turn_end=self._raw_rendered.emit, sample_rate=sample_rate)


#: how much nicer (lower priority) the stage threads run than the UI thread; 0 to disable
WORKER_NICE = 4


def lower_worker_priority(engine: Engine, nice: int = WORKER_NICE) -> int:
    """Make the stage threads yield the CPU to the UI thread (Linux: per-thread nice); returns how many."""
    import os

    if nice <= 0 or not hasattr(os, "setpriority"):
        return 0
    done = 0
    for w in engine.workers:
        tid = getattr(w, "native_id", None)
        if tid is None:
            continue
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
            done += 1
        except OSError:
            pass
    return done


class EngineLoader(QObject):
    """Lives in the loader thread: closes the old engine, starts the new one."""

    loaded = Signal(object, float, object, float)  # engine, seconds, idle frames or None, their fps
    failed = Signal(object, str)  # engine that failed, message

    @Slot(object, object)
    def swap(self, old: Engine | None, new: Engine | None) -> None:
        gc.unfreeze()  # let the old engine's objects be collected
        if old is not None:
            try:
                old.close()
            except Exception:
                log.exception("closing the old engine failed")
        if new is None:
            return
        t0 = time.perf_counter()
        try:
            new.start()
        except Exception as exc:
            msg = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            self.failed.emit(new, msg)
            return
        lower_worker_priority(new)
        try:
            frames, fps = new.idle_frames()
        except Exception:
            log.exception("idle frames failed")
            frames, fps = None, 25.0
        # The loaded models are long-lived: move them out of the collector's sight, so a full
        # collection during a turn (which holds the GIL, on whatever thread triggers it) stays
        # short and the window does not stall (measured: 127 ms gen-2 pauses without this).
        gc.collect()
        gc.freeze()
        seconds = time.perf_counter() - t0
        self.loaded.emit(new, seconds, frames, fps)


class EngineController(QObject):
    """Owns the running engine; ``start``/``restart`` never block the UI thread."""

    loading = Signal(str, int, int)  # what is loading, done, total
    ready = Signal(dict, float)  # backend per stage, load seconds
    idle_ready = Signal(object, float)  # frames for the avatar between turns, fps
    failed = Signal(str)
    _swap = Signal(object, object)

    def __init__(
        self, factory: EngineFactory = default_engine_factory, audio_rate: int | None = None, parent=None
    ) -> None:
        super().__init__(parent)
        self.factory = factory
        self.audio_rate = audio_rate
        self.sink: PlayerSink | None = None
        self._display_box: tuple[int, int] | None = None
        self.signals = EngineSignals()
        self.engine: Engine | None = None
        self._pending: Engine | None = None
        self.last_turn_id = 0  # highest turn id any engine of this controller gave out
        self._queued: Settings | None = None
        self._unsubscribe = None
        self._thread = QThread()
        self._thread.setObjectName("engine-loader")
        self._loader = EngineLoader()
        self._loader.moveToThread(self._thread)
        self._swap.connect(self._loader.swap)
        self._loader.loaded.connect(self._on_loaded)
        self._loader.failed.connect(self._on_failed)
        self._thread.start()
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._report_progress)

    def set_display_box(self, width: int, height: int) -> None:
        """Frames are scaled to fit this many device pixels on the sink's thread, not the UI's."""
        self._display_box = (int(width), int(height))
        if self.sink is not None:
            self.sink.display_box = self._display_box

    @property
    def busy(self) -> bool:
        return self._pending is not None

    @property
    def ready_engine(self) -> Engine | None:
        return self.engine

    def start(self, settings: Settings) -> None:
        """Load an engine for ``settings`` in the background (replacing the running one)."""
        if self._pending is not None:
            self._queued = settings  # applied when the current load ends
            return
        try:
            self.sink = self.signals.make_sink(self.audio_rate)
            self.sink.display_box = self._display_box
            new = self.factory(settings, self.sink)
            new.number_turns_after(self.last_turn_id)  # ids never repeat within the app's life
        except Exception as exc:
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        old, self.engine = self.engine, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.signals.attach(None, floor=self.last_turn_id)  # nothing more of the old engine is shown
        self._pending = new
        self.loading.emit("starting", 0, 6)
        self._poll.start()
        self._swap.emit(old, new)

    def _report_progress(self) -> None:
        eng = self._pending
        if eng is None:
            return
        workers = list(eng.workers)
        if not workers:
            self.loading.emit("building stages", 0, 6)
            return
        done = sum(w.loaded.is_set() for w in workers)
        waiting = [w.stage.name for w in workers if not w.loaded.is_set()]
        self.loading.emit("loading " + ", ".join(waiting) if waiting else "starting workers", done, len(workers))

    @Slot(object, float, object, float)
    def _on_loaded(self, engine: Engine, seconds: float, frames, fps: float) -> None:
        if engine is not self._pending:
            return
        self._pending = None
        self._poll.stop()
        self.engine = engine
        self.signals.attach(engine.gate, floor=self.signals.floor)
        self._unsubscribe = engine.subscribe(self.signals.listener)
        if self._queued is not None:
            settings, self._queued = self._queued, None
            self.start(settings)
            return
        self.idle_ready.emit(frames, fps)
        self.ready.emit(engine.describe(), seconds)

    @Slot(object, str)
    def _on_failed(self, engine: Engine, message: str) -> None:
        if engine is not self._pending:
            return
        self._pending = None
        self._poll.stop()
        if self._queued is not None:
            settings, self._queued = self._queued, None
            self.start(settings)
            return
        self.failed.emit(message)

    # -- turns (cheap calls: they only touch queues) --------------------------
    def submit(self, text: str, speech: dict | None = None) -> int:
        if self.engine is None:
            raise RuntimeError("the models are still loading" if self._pending else "no engine: fix the settings")
        turn_id = self.engine.submit(text, speech=speech)
        self.last_turn_id = max(self.last_turn_id, turn_id)
        return turn_id

    def say(self, text: str) -> int:
        """Speak ``text`` as the persona (its greeting): voice and face, no dialogue, no history."""
        if self.engine is None:
            raise RuntimeError("the models are still loading" if self._pending else "no engine: fix the settings")
        turn_id = self.engine.say(text, mode="greeting")
        self.last_turn_id = max(self.last_turn_id, turn_id)
        return turn_id

    def interrupt(self, turn_id: int | None = None) -> int | None:
        """Stop the running turn, or ``turn_id`` (which may have finished but still be playing)."""
        return self.engine.interrupt(turn_id) if self.engine is not None else None

    def clear(self) -> None:
        if self.engine is not None:
            self.engine.clear()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Close the engine (on the loader thread) and stop that thread."""
        self._poll.stop()
        old, self.engine = self.engine, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._thread.quit()
        self._thread.wait(timeout_ms)  # a load in progress finishes first
        for eng in (old, self._pending):
            if eng is not None:
                try:
                    eng.interrupt()
                    eng.close()
                except Exception:
                    log.exception("closing the engine failed")
        self._pending = None

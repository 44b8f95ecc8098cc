"""Voice input seen from the UI thread: ``LiveVoice`` (capture + recogniser threads) behind Qt signals.

``LiveVoice`` calls back from its capture and asr threads; each callback emits
a signal, which Qt delivers to the UI thread through its event queue, as
``engine_bridge`` does for the engine.  Nothing here records or recognises on
the UI thread.  The player tells the bridge what it plays (``played_chunk``),
the reference of the barge-in echo check.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from PySide6.QtCore import QObject, Signal

from pipelines.asr.barge_in import PlayedAudio
from pipelines.asr.live_voice import LiveVoice
from pipelines.asr.sources import BlockSource, DeviceSource
from pipelines.messages import VideoChunk
from pipelines.settings import Settings


def device_source_factory(settings: Settings) -> Callable[[], BlockSource]:
    return lambda: DeviceSource(settings.asr.input_device)


def input_notice(settings: Settings) -> str | None:
    """Why the configured microphone cannot be used (None: it can); cheap, asks the sound system only."""
    from pipelines.asr.demo import mic_notice

    return mic_notice(settings.asr.input_device)


class VoiceInputBridge(QObject):
    level = Signal(float)
    partial = Signal(str)
    final = Signal(str, dict)  # text ("" when nothing was recognised), speech facts for the turn record
    barge_in = Signal(int)  # the turn the user talked over (already interrupted in the engine)
    notice = Signal(str)  # the microphone cannot be used, and why
    error = Signal(object)  # StageError of the asr stage (or the capture)
    listening = Signal(bool)

    def __init__(self, settings: Settings, controller, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.played = PlayedAudio()
        self.taps: list[PlayedAudio] = []  # more listeners of what the player plays (a simulated room)
        self._factory: Callable[[], BlockSource] | None = None
        self.hands_free = False
        self.settings = settings
        self.voice = self._make_voice(settings)

    # -- configuration (UI thread) ------------------------------------------------
    def _make_voice(self, settings: Settings) -> LiveVoice:
        return LiveVoice(
            settings,
            self._factory or device_source_factory(settings),
            played=self.played,
            active_turn=self._active_turn,
            on_level=self.level.emit,
            on_partial=self.partial.emit,
            on_final=self.final.emit,
            on_barge_in=self._barged_in,
            on_notice=self.notice.emit,
            on_error=lambda err: self.error.emit(dataclasses.replace(err, turn_id=-1)),  # not a turn
            on_listening=self.listening.emit,
        )

    def use_source(self, factory: Callable[[], BlockSource] | None) -> None:
        """Where audio comes from (None: the configured device); a running capture is restarted."""
        self._factory = factory
        self.set_settings(self.settings)
        self.check_device()

    def set_settings(self, settings: Settings) -> None:
        running = self.voice.running
        self.voice.close()
        self.settings = settings
        self.voice = self._make_voice(settings)
        self.voice.set_hands_free(self.hands_free)
        if running and self.hands_free:
            self.voice.start()

    def check_device(self) -> str | None:
        """Why the input cannot be used (None: it can); emitted as ``notice`` ("" when it can)."""
        text = None if self._factory is not None else input_notice(self.settings)
        self.notice.emit(text or "")
        return text

    def preload(self) -> None:
        """Load the recogniser in the background once the models are up (when a microphone exists)."""
        if self._factory is not None or input_notice(self.settings) is None:
            self.voice.preload()

    # -- modes ----------------------------------------------------------------------
    def set_hands_free(self, on: bool) -> None:
        self.hands_free = bool(on)
        self.voice.set_hands_free(on)
        if on:
            self.voice.start()
        else:
            self.voice.stop()

    def press(self) -> None:
        self.voice.press()

    def release(self) -> None:
        self.voice.release()

    # -- what plays (UI thread, as the player takes the chunk) -----------------------
    def played_chunk(self, chunk: VideoChunk) -> None:
        if len(chunk.audio):
            for p in (self.played, *self.taps):
                p.push(chunk.turn_id, chunk.audio, chunk.sample_rate)

    def drop_turn(self, turn_id: int) -> None:
        for p in (self.played, *self.taps):
            p.drop(turn_id)

    # -- capture thread ---------------------------------------------------------------
    def _active_turn(self) -> int | None:
        eng = self.controller.engine
        return eng.active_turn if eng is not None else None

    def _barged_in(self, turn_id: int) -> None:
        """Interrupt the engine here at once (thread-safe), then let the UI stop the player."""
        eng = self.controller.engine
        if eng is not None:
            eng.interrupt(turn_id)  # running or still playing: nothing more of it is delivered
        for p in self.taps:
            p.drop(turn_id)
        self.barged_at = time.perf_counter()
        self.barge_in.emit(turn_id)

    def close(self) -> None:
        self.voice.close()

"""Plays video chunks in sync with their audio; the audio output is the clock.

Chunks of a turn are appended to one timeline: frame ``k`` belongs to audio
time ``k / fps``.  A precise single-shot timer wakes just after the next frame's
audio time, asks the audio output how much audio has been heard and shows the
frame for that instant (one wake-up per frame, not a busy poll, so the UI thread
rarely competes for the GIL with the stage threads), so video follows the sound even
when rendering is late (the clock waits while the audio is starved) or the UI
stalls (late frames are skipped, never played slow).  Between turns an idle loop
plays.  ``stop()`` drops everything buffered at once, audio included; chunks of a
stopped turn still in flight never reach the player (``EngineSignals`` delivers only
live turns), so the player keeps no filter of its own.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from pipelines.messages import VideoChunk

from .audio_output import AudioOutput


class AvatarPlayer(QObject):
    #: a frame to show (H,W,3 uint8 RGB) and its time on the turn's audio clock (-1: idle frame)
    frame_ready = Signal(object, float)
    playing_changed = Signal(bool)
    #: turn id, seconds from the turn's first chunk to its first frame on screen
    first_frame = Signal(int)

    def __init__(self, audio: AudioOutput, max_tick_ms: int = 20, parent=None) -> None:
        super().__init__(parent)
        self.audio = audio
        self.max_tick_ms = max_tick_ms  # longest sleep while playing (the clock may be starved)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)
        self._idle: np.ndarray | None = None
        self._idle_fps = 25.0
        self._idle_t0 = time.perf_counter()
        self._idle_shown = -1
        self.turn_id: int | None = None
        self._frames: list[np.ndarray] = []
        self._fps = 25.0
        self._ended = False
        self._shown = -1
        self._first_shown = False
        self.playing = False
        # figures for the status bar, tests and the UI benchmark
        self.delays: list[float] = []  # audio time at paint - frame's audio time (s)
        self.frames_shown = 0
        self.frames_skipped = 0
        self.audio_written_s = 0.0
        self.chunks_received: dict[int, int] = {}
        self.turns_played: list[int] = []
        #: turn id -> (seconds from its first chunk to the end of its audio, seconds of audio)
        self.playback: dict[int, tuple[float, float]] = {}
        self._turn_t0 = 0.0
        self._timer.start(40)
        self.wakeups = 0

    # -- input ---------------------------------------------------------------
    def set_idle_frames(self, frames: np.ndarray | None, fps: float = 25.0) -> None:
        self._idle = frames if frames is not None and len(frames) else None
        self._idle_fps = float(fps or 25.0)
        self._idle_shown = -1
        if not self.playing:
            self._show_idle(force=True)

    def push(self, chunk: VideoChunk) -> bool:
        """Queue a rendered chunk (the bridge delivers only chunks of live turns)."""
        tid = chunk.turn_id
        if tid != self.turn_id:
            self._begin(tid, chunk.fps)
        frames = np.asarray(chunk.frames)
        self._frames.extend(frames[i] for i in range(len(frames)))
        self.audio.write(chunk.audio, chunk.sample_rate)
        self.audio_written_s += len(chunk.audio) / float(chunk.sample_rate)
        self.chunks_received[tid] = self.chunks_received.get(tid, 0) + 1
        if not self.playing:
            self._set_playing(True)
        self._tick()
        return True

    def turn_rendered(self, turn_id: int) -> None:
        """Every chunk of ``turn_id`` has arrived: go idle once its audio has played."""
        if turn_id == self.turn_id:
            self._ended = True

    def stop(self) -> None:
        """Drop the playing turn now (audio and frames); later chunks of it are ignored."""
        self._reset_timeline()
        self._set_playing(False)

    def drop_turn(self, turn_id: int) -> None:
        """The engine cancelled ``turn_id``: stop it if it is playing (nothing more of it arrives)."""
        if turn_id == self.turn_id:
            self.stop()

    def close(self) -> None:
        self._timer.stop()
        self.audio.close()

    # -- figures ---------------------------------------------------------------
    def painted(self, frame_time: float) -> None:
        """Called by the view when a frame is on screen: record how late it was."""
        if frame_time >= 0 and self.playing:
            self.delays.append(self.audio.position() - frame_time)

    @property
    def buffered_frames(self) -> int:
        return max(0, len(self._frames) - self._shown - 1)

    # -- playback ----------------------------------------------------------------
    def _begin(self, turn_id: int, fps: float) -> None:
        self._reset_timeline()
        self.turn_id = turn_id
        self._fps = float(fps)
        self._first_shown = False
        self._turn_t0 = time.perf_counter()

    def _reset_timeline(self) -> None:
        self.audio.clear()
        self._frames = []
        self._ended = False
        self._shown = -1

    def _set_playing(self, on: bool) -> None:
        if on == self.playing:
            return
        self.playing = on
        if not on:
            self._idle_t0 = time.perf_counter()
            self._show_idle(force=True)
        self.playing_changed.emit(on)

    def _tick(self) -> None:
        self.wakeups += 1
        try:
            self._step()
        finally:
            self._schedule()

    def _schedule(self) -> None:
        """Sleep until just after the next frame's audio time (or the next idle frame)."""
        if not self.playing:
            ms = max(10.0, 1000.0 / self._idle_fps)
        elif not self._frames or self._shown >= len(self._frames) - 1:
            ms = 10.0  # starved, or waiting for the end: look again soon
        else:
            ahead = (self._shown + 1) / self._fps - self.audio.position()
            ms = min(float(self.max_tick_ms), max(1.0, ahead * 1000.0 + 0.5))
        self._timer.start(int(round(ms)))

    def _step(self) -> None:
        if not self.playing:
            self._show_idle()
            return
        n = len(self._frames)
        if n == 0:
            return
        pos = self.audio.position()
        idx = int(pos * self._fps + 1e-6)
        if idx >= n:
            if self._ended and pos >= self.audio.written() - 1e-6:
                self.turns_played.append(self.turn_id)
                self.playback[self.turn_id] = (time.perf_counter() - self._turn_t0, self.audio.written())
                self._reset_timeline()
                self._set_playing(False)
                return
            idx = n - 1  # starved: hold the last frame until more arrives
        if idx != self._shown:
            if self._shown >= 0 and idx > self._shown + 1:
                self.frames_skipped += idx - self._shown - 1
            self._shown = idx
            self.frames_shown += 1
            self.frame_ready.emit(self._frames[idx], idx / self._fps)
            if not self._first_shown:
                self._first_shown = True
                self.first_frame.emit(self.turn_id)

    def _show_idle(self, force: bool = False) -> None:
        if self._idle is None:
            return
        i = int((time.perf_counter() - self._idle_t0) * self._idle_fps) % len(self._idle)
        if force or i != self._idle_shown:
            self._idle_shown = i
            self.frame_ready.emit(self._idle[i], -1.0)

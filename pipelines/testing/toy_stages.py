"""Small deterministic stages for testing the engine's mechanics (ordering,
interrupts, errors) independently of model speed.  The real backends are
tested in their own folders and end to end in ``test_headless_turn.py``."""

from __future__ import annotations

import threading
import time

import numpy as np

from pipelines.messages import AudioChunk, Sentence, TextChunk, UserTurn, VideoChunk
from pipelines.stage import Stage


class ScriptedDialogue(Stage):
    """Streams a fixed reply a few characters at a time, recording when it finished."""

    name = "dialogue"
    backend = "scripted"

    def __init__(self, reply: str, delay: float = 0.01, piece: int = 3):
        self.reply, self.delay, self.piece = reply, delay, piece
        self.finished_at: dict[int, float] = {}
        self.stopped_early: dict[int, bool] = {}
        self.history: list[str] = []

    def process(self, msg, ctx):
        if not isinstance(msg, UserTurn):
            return
        self.history.append(msg.text)
        try:
            for i in range(0, len(self.reply), self.piece):
                time.sleep(self.delay)
                yield TextChunk(msg.turn_id, self.reply[i : i + self.piece], mode="scripted")
            self.finished_at[msg.turn_id] = time.perf_counter()
        finally:
            self.stopped_early[msg.turn_id] = msg.turn_id not in self.finished_at

    def reset(self):
        self.history.clear()


class ToneTTS(Stage):
    """A tone per sentence, 0.1 s per character (fails on a chosen word)."""

    name = "tts"
    backend = "tone"

    def __init__(self, fail_on: str | None = None, sr: int = 16000):
        self.fail_on, self.sr = fail_on, sr

    def process(self, msg, ctx):
        if isinstance(msg, Sentence):
            if self.fail_on and self.fail_on in msg.text:
                raise RuntimeError(f"cannot say {self.fail_on!r}")
            n = int(0.1 * len(msg.text) * self.sr)
            t = np.arange(n) / self.sr
            yield AudioChunk(msg.turn_id, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), self.sr, msg.text)


class PassAudio(Stage):
    name = "vc"
    backend = "pass"

    def process(self, msg, ctx):
        yield msg


class FlatFace(Stage):
    """One flat frame per 1/25 s of audio (audio trimmed/padded to the frames).

    ``size`` sets the frame size (the UI benchmark uses the real 512 px so painting costs what it
    does with real frames); ``vary`` changes the shade every frame so each one is repainted.
    """

    name = "face"
    backend = "flat"

    def __init__(self, size: int = 64, vary: bool = False):
        self.size, self.vary = size, vary
        self.backend = f"flat{size}" if size != 64 else "flat"

    def process(self, msg, ctx):
        if isinstance(msg, AudioChunk):
            n = max(1, round(msg.duration * 25))
            need = int(round(n / 25 * msg.sample_rate))
            audio = np.pad(msg.samples, (0, max(0, need - len(msg.samples))))[:need]
            frames = np.full((n, self.size, self.size, 3), 128, np.uint8)
            if self.vary:
                frames[:] = ((40 + 5 * np.arange(n)) % 256).astype(np.uint8)[:, None, None, None]
            yield VideoChunk(msg.turn_id, frames, 25.0, audio, msg.sample_rate, msg.text)


class CollectSink(Stage):
    """Keeps every chunk that reaches the end of the pipeline, with its arrival time."""

    name = "sink"
    backend = "collect"

    def __init__(self, slow: float = 0.0):
        self.slow = slow
        self.chunks: list[tuple[float, VideoChunk]] = []
        self.cancelled: list[int] = []
        self.lock = threading.Lock()

    def process(self, msg, ctx):
        if isinstance(msg, VideoChunk):
            time.sleep(self.slow)
            with self.lock:
                self.chunks.append((time.perf_counter(), msg))
        return ()

    def cancel_turn(self, turn_id):
        self.cancelled.append(turn_id)

    def turn_chunks(self, turn_id):
        with self.lock:
            return [c for _, c in self.chunks if c.turn_id == turn_id]

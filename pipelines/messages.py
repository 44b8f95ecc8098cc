"""Typed messages that flow between the stages of one conversation turn.

Every message carries the ``turn_id`` of the turn it belongs to and a ``seq``
number (its position within that turn, per stage output).  ``TurnEnd`` closes a
turn on a queue: each stage forwards it after it has emitted everything of that
turn, so the next stage can flush (the splitter emits its last sentence, the
sink finalises the MP4).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Message:
    turn_id: int
    seq: int


@dataclass(frozen=True)
class UserTurn(Message):
    """What the user typed; the dialogue stage's input."""
    text: str


@dataclass(frozen=True)
class TextChunk(Message):
    """A streamed piece of the reply (a token or a few characters)."""
    text: str
    mode: str = "llm"  # "llm" or "retrieval": what produced the text


@dataclass(frozen=True)
class Sentence(Message):
    """A speakable piece of the reply, cut by the sentence splitter."""
    text: str


@dataclass(frozen=True, eq=False)
class AudioChunk(Message):
    """Mono float32 audio in [-1, 1] for one sentence.

    ``phonemes``: optional ``((time_s, phoneme), ...)`` from the synthesiser (espeak-ng's
    phoneme events), for visemes; stages that keep the timing pass it on.
    """
    samples: np.ndarray
    sample_rate: int
    text: str = ""
    phonemes: tuple = ()

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True, eq=False)
class VideoChunk(Message):
    """Rendered frames (N, H, W, 3) uint8 RGB at ``fps`` and the audio they go with.

    The audio lasts exactly ``len(frames) / fps`` seconds (the renderer pads or
    trims it), so chunks can be concatenated without drift.
    """
    frames: np.ndarray
    fps: float
    audio: np.ndarray
    sample_rate: int
    text: str = ""

    @property
    def duration(self) -> float:
        return len(self.frames) / float(self.fps)


@dataclass(frozen=True)
class TurnEnd(Message):
    """End of a turn on one queue.  ``info`` carries stage facts (e.g. the reply mode)."""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageError(Message):
    """An exception raised by a stage while processing a message of ``turn_id``."""
    stage: str
    error: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"stage '{self.stage}' failed on turn {self.turn_id}: {self.error}"

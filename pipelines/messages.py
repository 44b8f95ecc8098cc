"""Typed messages that flow between the stages of one conversation turn.

Two kinds, as in pipecat's frames:

* **data** (``Message`` subclasses: ``UserTurn``, ``TextChunk``, ``Sentence``,
  ``AudioChunk``, ``VideoChunk``, ``TurnEnd``): they carry the ``turn_id`` of the
  turn they belong to and a ``seq`` number (their position within that turn, per
  stage output, given by the stage's worker as it publishes them).  Every data message of a cancelled turn is dropped, on every
  queue and before it is published.
* **control** (``ControlMessage`` subclasses: ``Cancel``, ``Reset``): never
  dropped; each worker handles them and forwards them downstream, in order.

``StageError`` and ``TurnFinished`` are what the engine publishes about a turn.  ``TurnEnd`` closes a
turn on a queue: each stage forwards it after it has emitted everything of that
turn, so the next stage can flush (the splitter emits its last sentence, the
sink finalises the MP4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .turn_record import TurnRecord


@dataclass(frozen=True)
class Message:
    """Base of the data messages.

    ``seq`` is the message's position among its stage's outputs in the turn (0, 1, 2, …).
    Stages never set it: the stage's worker numbers each output as it publishes it
    (``StageWorker._emit``), the one place numbers are given.
    """

    turn_id: int
    seq: int = field(default=0, kw_only=True)


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


class ControlMessage:
    """Base of the control messages: never dropped, handled by every worker in order."""


@dataclass(frozen=True)
class Cancel(ControlMessage):
    """Turn ``turn_id`` was interrupted or failed: drop everything of it."""

    turn_id: int


@dataclass(frozen=True)
class Reset(ControlMessage):
    """Forget conversation state (history).

    ``history``: (user text, reply) rounds to start from instead of nothing (a conversation
    restored on start, ``Engine.restore_history``)."""

    history: tuple = ()


@dataclass(frozen=True, eq=False)
class IdleRequest(ControlMessage):
    """Ask the face stage for ``n`` idle frames; its worker fulfils ``result`` (a Future)."""

    n: int
    result: Any  # concurrent.futures.Future[(frames | None, fps)]


@dataclass(frozen=True)
class StageError(Message):
    """An exception raised by a stage while processing a message of ``turn_id``."""

    stage: str
    error: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"stage '{self.stage}' failed on turn {self.turn_id}: {self.error}"


@dataclass(frozen=True)
class TurnFinished(Message):
    """Published once per turn when it has ended (ok, interrupted or error)."""

    record: "TurnRecord"

"""The speech recognition stage: a spoken utterance in, the user's turn text out.

It follows the stage contract (``load / process / end_turn / cancel_turn /
close``) and sits ahead of dialogue: ``VoiceInput`` (``voice_input.py``) feeds
it utterances cut by the VAD and submits what it yields to the engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..messages import Message, UserTurn
from ..stage import Stage, TurnContext
from .recognizer import Recognizer, build_recognizer


@dataclass(frozen=True, eq=False)
class SpokenInput(Message):
    """One utterance: float32 mono samples, and whether it is still being spoken (partial)."""

    samples: np.ndarray
    sample_rate: int
    final: bool = True

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True)
class PartialText(Message):
    """The text so far of an utterance still being spoken."""

    text: str


class AsrStage(Stage):
    name = "asr"

    def __init__(self, settings, persona=None, recognizer: Recognizer | None = None) -> None:
        self.settings = settings
        self.recognizer = recognizer or build_recognizer(settings.asr, settings)
        self.backend = self.recognizer.backend
        self.last_figures: dict = {}

    def load(self) -> None:
        self.recognizer.load()

    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, SpokenInput):
            raise TypeError(f"asr expects SpokenInput messages, got {type(msg).__name__}")
        if not msg.final:
            if self.recognizer.supports_partials:
                text = self.recognizer.partial(msg.samples, msg.sample_rate)
                if text:
                    yield PartialText(msg.turn_id, text)
            return
        t = time.perf_counter()
        text = self.recognizer.transcribe(msg.samples, msg.sample_rate).strip()
        took = time.perf_counter() - t
        self.last_figures = {
            "audio_s": round(msg.duration, 3),
            "text": text,
            "backend": self.backend,
            "recognize_s": round(took, 4),
            "rtf": round(took / msg.duration, 4) if msg.duration else None,
        }
        if text and not ctx.cancelled:
            yield UserTurn(msg.turn_id, text)

    def close(self) -> None:
        self.recognizer.close()

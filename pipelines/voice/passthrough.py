"""Voice conversion backend ``none``: the base voice goes to the face stage unchanged."""

from __future__ import annotations

from typing import Iterator

from pipelines.media.audio import as_mono_float32

from ..messages import AudioChunk, Message
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv


class NoConversion(Stage):
    """``vc`` backend ``none``: forwards each ``AudioChunk`` (as float32 mono)."""

    name = "vc"

    def __init__(self, cfg: None, persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona

    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, AudioChunk):
            raise TypeError(f"vc expects AudioChunk messages, got {type(msg).__name__}")
        yield AudioChunk(
            msg.turn_id,
            samples=as_mono_float32(msg.samples),
            sample_rate=msg.sample_rate,
            text=msg.text,
            phonemes=msg.phonemes,
        )  # conversion keeps the timing

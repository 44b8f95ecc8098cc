"""The engine's last stage in the app: hands video chunks to the GUI player (no Qt here).

The engine guarantees that nothing of an interrupted turn reaches its sink after
the interrupt, so the player is fed from here.  The callbacks run on the sink's
worker thread; the app connects them to queued Qt signals.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from pipelines.messages import VideoChunk
from pipelines.stage import Stage, TurnContext


class PlayerSink(Stage):
    name = "sink"
    backend = "player"

    def __init__(self, on_chunk: Callable[[VideoChunk], None] = lambda c: None,
                 on_turn_end: Callable[[int], None] = lambda t: None,
                 on_cancel: Callable[[int], None] = lambda t: None, sample_rate: int | None = None) -> None:
        """``sample_rate``: the audio output's rate; chunks are resampled here, off the UI thread."""
        self.on_chunk, self.on_turn_end, self.on_cancel = on_chunk, on_turn_end, on_cancel
        self.sample_rate = sample_rate

    def process(self, msg, ctx: TurnContext):
        if isinstance(msg, VideoChunk) and not ctx.cancelled:
            if self.sample_rate and msg.sample_rate != self.sample_rate:
                from pipelines.voice.audio_utils import resample
                msg = dataclasses.replace(msg, audio=resample(msg.audio, msg.sample_rate, self.sample_rate),
                                          sample_rate=self.sample_rate)
            self.on_chunk(msg)
        return ()

    def end_turn(self, ctx: TurnContext):
        if not ctx.cancelled:
            self.on_turn_end(ctx.turn_id)
        return ()

    def cancel_turn(self, turn_id: int) -> None:
        self.on_cancel(turn_id)

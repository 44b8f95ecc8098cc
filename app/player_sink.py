"""The engine's last stage in the app: hands video chunks to the GUI player (no Qt here).

The engine guarantees that nothing of an interrupted turn reaches its sink after
the interrupt, so the player is fed from here.  The callbacks run on the sink's
worker thread; the app connects them to queued Qt signals.

Work that would otherwise land on the UI thread is done here: audio is resampled
to the output's rate, and frames are scaled to the size the avatar view shows
them at (``display_box``), so painting a frame is a plain copy.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from pipelines.messages import VideoChunk
from pipelines.stage import Stage, TurnContext


def fit_size(w: int, h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """(w, h) scaled to fit inside the box, keeping the aspect ratio."""
    f = min(box_w / w, box_h / h)
    return max(1, int(w * f)), max(1, int(h * f))


def scale_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2
    h, w = frames.shape[1:3]
    tw, th = size
    if (tw, th) == (w, h):
        return frames
    interp = cv2.INTER_AREA if tw < 0.5 * w else cv2.INTER_LINEAR
    out = np.empty((len(frames), th, tw, 3), np.uint8)
    for i, f in enumerate(frames):
        cv2.resize(f, (tw, th), dst=out[i], interpolation=interp)
    return out


class PlayerSink(Stage):
    name = "sink"
    backend = "player"

    def __init__(self, on_chunk: Callable[[VideoChunk], None] = lambda c: None,
                 on_turn_end: Callable[[int], None] = lambda t: None,
                 on_cancel: Callable[[int], None] = lambda t: None, sample_rate: int | None = None) -> None:
        """``sample_rate``: the audio output's rate; chunks are resampled here, off the UI thread."""
        self.on_chunk, self.on_turn_end, self.on_cancel = on_chunk, on_turn_end, on_cancel
        self.sample_rate = sample_rate
        #: (width, height) in device pixels the view shows frames in; set from the UI thread
        self.display_box: tuple[int, int] | None = None

    def process(self, msg, ctx: TurnContext):
        if isinstance(msg, VideoChunk) and not ctx.cancelled:
            changes = {}
            if self.sample_rate and msg.sample_rate != self.sample_rate:
                from pipelines.media.audio import resample
                changes.update(audio=resample(msg.audio, msg.sample_rate, self.sample_rate),
                               sample_rate=self.sample_rate)
            box = self.display_box
            if box and box[0] > 16 and box[1] > 16 and len(msg.frames):
                h, w = msg.frames.shape[1:3]
                size = fit_size(w, h, *box)
                if size != (w, h):
                    changes.update(frames=scale_frames(np.asarray(msg.frames), size))
            if changes:
                msg = dataclasses.replace(msg, **changes)
            self.on_chunk(msg)
        return ()

    def end_turn(self, ctx: TurnContext):
        if not ctx.cancelled:
            self.on_turn_end(ctx.turn_id)
        return ()

    def cancel_turn(self, turn_id: int) -> None:
        self.on_cancel(turn_id)

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
import threading
from pathlib import Path
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

    def __init__(
        self,
        on_chunk: Callable[[VideoChunk], None] = lambda c: None,
        on_turn_end: Callable[[int], None] = lambda t: None,
        on_cancel: Callable[[int], None] = lambda t: None,
        sample_rate: int | None = None,
    ) -> None:
        """``sample_rate``: the audio output's rate; chunks are resampled here, off the UI thread."""
        self.on_chunk, self.on_turn_end, self.on_cancel = on_chunk, on_turn_end, on_cancel
        self.sample_rate = sample_rate
        #: (width, height) in device pixels the view shows frames in; set from the UI thread
        self.display_box: tuple[int, int] | None = None
        #: the last few turns as rendered (frames JPEG-compressed, audio as is) for "Save video"
        self.keep_turns = KEEP_TURNS
        self._kept: dict[int, dict] = {}
        self._kept_lock = threading.Lock()

    def _keep(self, msg: VideoChunk) -> None:
        import cv2

        jpegs = [
            cv2.imencode(".jpg", np.ascontiguousarray(f[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])[1]
            for f in np.asarray(msg.frames)
        ]
        with self._kept_lock:
            turn = self._kept.setdefault(
                msg.turn_id, {"fps": msg.fps, "sample_rate": msg.sample_rate, "chunks": [], "complete": False}
            )
            turn["chunks"].append((jpegs, np.asarray(msg.audio, np.float32).copy()))
            while len(self._kept) > self.keep_turns:
                self._kept.pop(min(self._kept))

    def kept_turn(self, turn_id: int) -> dict | None:
        """``{"fps", "sample_rate", "chunks": [(jpeg frames, audio)], "complete"}`` of a recent turn."""
        with self._kept_lock:
            t = self._kept.get(turn_id)
            return None if t is None else dict(t, chunks=list(t["chunks"]))

    def process(self, msg, ctx: TurnContext):
        if isinstance(msg, VideoChunk) and not ctx.cancelled:
            if self.keep_turns:
                self._keep(msg)
            changes = {}
            if self.sample_rate and msg.sample_rate != self.sample_rate:
                from pipelines.media.audio import resample

                changes.update(
                    audio=resample(msg.audio, msg.sample_rate, self.sample_rate), sample_rate=self.sample_rate
                )
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
            with self._kept_lock:
                if ctx.turn_id in self._kept:
                    self._kept[ctx.turn_id]["complete"] = True
            self.on_turn_end(ctx.turn_id)
        return ()

    def cancel_turn(self, turn_id: int) -> None:
        with self._kept_lock:
            self._kept.pop(turn_id, None)
        self.on_cancel(turn_id)


#: how many recent turns the app keeps for "Save video"
KEEP_TURNS = 3


def write_kept_turn(turn: dict, path) -> Path:
    """Write a kept turn as an MP4 with the writer ``main_demo.py`` uses (H.264 + AAC)."""
    import cv2

    from pipelines.media.mp4_writer import Mp4Writer

    w = Mp4Writer(path, turn["fps"], turn["sample_rate"])
    try:
        for jpegs, audio in turn["chunks"]:
            frames = (
                np.stack([cv2.imdecode(j, cv2.IMREAD_COLOR)[..., ::-1] for j in jpegs])
                if jpegs
                else np.zeros((0, 1, 1, 3), np.uint8)
            )
            w.write(frames, audio)
        return w.close()
    except BaseException:
        w.abort()
        raise

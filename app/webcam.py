"""Find a webcam and record a short clip from it (OpenCV; no Qt here)."""

from __future__ import annotations

import glob
import time
from pathlib import Path
from typing import Callable

import numpy as np


def find_webcams(max_index: int = 4) -> list[int]:
    """Indices of cameras that open and deliver a frame (none on a machine without /dev/video*)."""
    if not glob.glob("/dev/video*"):
        return []
    try:
        import cv2
    except ImportError:
        return []
    found = []
    for i in range(max_index):
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened() and cap.read()[0]:
                found.append(i)
        finally:
            cap.release()
    return found


def record_clip(
    index: int,
    seconds: float,
    out_path: str | Path,
    fps: float = 25.0,
    progress: Callable[[object], None] = lambda p: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Path:
    """Record ``seconds`` from camera ``index`` into an MP4; ``progress((fraction, last RGB frame))``."""
    import cv2

    from pipelines.face.avatar.video_io import write_clip

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise RuntimeError(f"camera {index} could not be opened (in use by another program?)")
    frames: list[np.ndarray] = []
    try:
        t0 = time.perf_counter()
        next_t = t0
        while time.perf_counter() - t0 < seconds and not cancelled():
            ok, bgr = cap.read()
            if not ok:
                raise RuntimeError(f"camera {index} stopped delivering frames")
            now = time.perf_counter()
            if now >= next_t:  # keep a steady fps whatever the camera delivers
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                frames.append(rgb)
                next_t += 1.0 / fps
                if len(frames) % 5 == 1:
                    progress(((now - t0) / seconds, rgb))
    finally:
        cap.release()
    if cancelled():
        raise RuntimeError("recording cancelled")
    if not frames:
        raise RuntimeError(f"camera {index} delivered no frames")
    return write_clip(out_path, frames, fps=fps)

"""A synthetic talking-head clip made from the bundled portrait, for tests and benchmarks.

``head_motion_frames`` moves the portrait as a head moves in a phone recording
(slow drift, nodding, tilting, a little zoom); ``make_head_motion_clip`` writes
them as an H.264 MP4 of any size, fps and rotation tag.  The true pose of every
frame is returned too, so a test can check enrolled boxes against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.assets.portrait import DEFAULT_OUT


def load_portrait(path: str | Path = DEFAULT_OUT) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{path}: portrait not found (run python -m pipelines.assets.portrait)")
    return np.ascontiguousarray(img[..., ::-1])


def head_pose(t: float, amount: float = 1.0) -> tuple[float, float, float, float]:
    """(dx, dy, degrees, scale) of the head at ``t`` seconds, as shares of the face size."""
    dx = amount * (0.06 * np.sin(2 * np.pi * t / 4.0) + 0.02 * np.sin(2 * np.pi * t / 1.7))
    dy = amount * 0.03 * np.sin(2 * np.pi * t / 3.1 + 0.4)
    deg = amount * 6.0 * np.sin(2 * np.pi * t / 5.0 + 1.0)
    scale = 1.0 + amount * 0.04 * np.sin(2 * np.pi * t / 6.0)
    return float(dx), float(dy), float(deg), float(scale)


def head_motion_frames(
    seconds: float = 10.0,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
    amount: float = 1.0,
    portrait: np.ndarray | None = None,
    face_height: float = 0.8,
):
    """Yield (frame RGB (h, w, 3) uint8, 2x3 affine from portrait to frame) for each frame."""
    import cv2

    img = load_portrait() if portrait is None else portrait
    w, h = size
    ph, pw = img.shape[:2]
    base_scale = face_height * h / ph
    for k in range(int(round(seconds * fps))):
        dx, dy, deg, sc = head_pose(k / fps, amount)
        m = cv2.getRotationMatrix2D((pw / 2, ph * 0.6), deg, base_scale * sc)
        m[0, 2] += w / 2 - pw / 2 + dx * w
        m[1, 2] += h / 2 - ph * 0.6 + dy * h + 0.1 * h
        frame = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        yield frame, m


def make_head_motion_clip(
    path: str | Path,
    seconds: float = 10.0,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
    amount: float = 1.0,
    rotation: int = 0,
) -> tuple[Path, np.ndarray]:
    """Write the clip; returns its path and the (N, 2, 3) affine of each frame (before ``rotation``).

    ``rotation`` (clockwise degrees, like a phone's tag): the stored pixels are rotated the
    other way, so a player that honours the tag shows the upright head.
    """
    from pipelines.face.avatar.video_io import write_clip

    mats = []

    def frames():
        for frame, m in head_motion_frames(seconds, fps, size, amount):
            mats.append(m)
            k = (rotation // 90) % 4
            yield np.ascontiguousarray(np.rot90(frame, k)) if k else frame  # counter-clockwise store

    p = write_clip(path, frames(), fps=fps, rotation=rotation)
    return p, np.stack(mats)

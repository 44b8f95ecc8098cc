"""Idle life for a still portrait: a slow, tiny head sway and blinks.

Both are deterministic functions of the frame number (so a frame can be
re-rendered exactly, e.g. the idle frame a test compares with).  The sway is a
small rotation about the neck plus a sub-pixel-to-pixel drift, made of slow
incommensurate sines; blinks come every 2.8–5.5 s (seeded) and last ~0.24 s.
A blink moves the upper lid down to the lower lid with a backward map on each
eye's region (the skin above the lid stretches, the eye compresses below it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.face.avatar import landmarks as L

BLINK_PROFILE = np.array([0.35, 0.8, 1.0, 0.85, 0.5, 0.2], np.float32)  # per frame at 25 fps
MAX_CLOSE = 0.92
#: height of the lid skin that stretches over the eye, in eye openings (kept below the brow:
#: a taller band dragged the eyebrow down and smeared it)
LID_SKIN = 0.9
LASH_POWER = 2.5


def sway_matrix(frame_no: int, fps: float, pivot: tuple[float, float], scale: float) -> np.ndarray:
    """2×3 affine matrix of the head sway at ``frame_no`` (identity-like, tiny)."""
    import cv2

    t = frame_no / fps
    ang = 0.55 * np.sin(2 * np.pi * t / 4.3) + 0.25 * np.sin(2 * np.pi * t / 2.65 + 1.0)
    dx = scale * (1.2 * np.sin(2 * np.pi * t / 5.1 + 0.3) + 0.4 * np.sin(2 * np.pi * t / 1.9))
    dy = scale * (0.7 * np.sin(2 * np.pi * t / 3.7 + 0.5) + 0.3 * np.sin(2 * np.pi * t / 2.3 + 2.0))
    m = cv2.getRotationMatrix2D((float(pivot[0]), float(pivot[1])), float(ang), 1.0)
    m[0, 2] += dx
    m[1, 2] += dy
    return m


class BlinkSchedule:
    """Blink amount (0 open .. 1 closed) per frame, from a seeded list of blink starts."""

    def __init__(self, fps: float, seed: int = 3, first_s: float = 1.6) -> None:
        self.fps = fps
        rng = np.random.default_rng(seed)
        gaps = rng.uniform(2.8, 5.5, 4000)
        self.starts = np.round((first_s + np.concatenate([[0.0], np.cumsum(gaps)])) * fps).astype(np.int64)
        step = 25.0 / fps
        n = max(1, int(round(len(BLINK_PROFILE) / step)))
        self.profile = np.interp(np.arange(n) * step, np.arange(len(BLINK_PROFILE)), BLINK_PROFILE)

    def amount(self, frame_no: int) -> float:
        k = int(np.searchsorted(self.starts, frame_no, side="right")) - 1
        if k < 0:
            return 0.0
        d = frame_no - int(self.starts[k])
        return float(self.profile[d]) if d < len(self.profile) else 0.0


@dataclass
class EyeRig:
    x0: int
    y0: int
    x1: int
    y1: int
    y_up: np.ndarray  # (w,) upper lid row per column (ROI)
    y_low: np.ndarray  # (w,) lower lid row per column
    y_top: np.ndarray  # (w,) top of the stretched skin
    gx: np.ndarray
    gy: np.ndarray


def build_eye_rigs(frame: np.ndarray, pts: np.ndarray) -> list[EyeRig]:
    H, W = frame.shape[:2]
    rigs = []
    for up_i, lo_i, c1, c2 in (L.RIGHT_EYE, L.LEFT_EYE):
        a, b = pts[c1], pts[c2]
        ew = float(abs(b[0] - a[0]))
        if ew < 4:
            continue
        ecx = float((a[0] + b[0]) / 2)
        line_y = float((a[1] + b[1]) / 2)
        up_h = max(line_y - float(pts[up_i][1]), 1.0)
        lo_h = max(float(pts[lo_i][1]) - line_y, 1.0)
        x0 = max(0, int(np.floor(min(a[0], b[0]) - 0.15 * ew)))
        x1 = min(W, int(np.ceil(max(a[0], b[0]) + 0.15 * ew)))
        y0 = max(0, int(np.floor(line_y - up_h - LID_SKIN * (up_h + lo_h) - 2)))
        y1 = min(H, int(np.ceil(line_y + lo_h + 3)))
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        cols = np.arange(x0, x1, dtype=np.float32)
        wgt = np.sqrt(np.clip(1 - ((cols - ecx) / (ew / 2)) ** 2, 0, 1))
        y_up = line_y - up_h * wgt - y0
        y_low = line_y + lo_h * wgt - y0
        y_top = y_up - LID_SKIN * (up_h + lo_h) * wgt
        gy, gx = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
        rigs.append(
            EyeRig(x0, y0, x1, y1, y_up.astype(np.float32), y_low.astype(np.float32), y_top.astype(np.float32), gx, gy)
        )
    return rigs


def blink(src: np.ndarray, dst: np.ndarray, rigs: list[EyeRig], amount: float) -> None:
    """Close both eyes by ``amount`` (0..1): writes the eye regions of ``dst`` from ``src``."""
    import cv2

    if amount <= 0:
        return
    b = min(float(amount), 1.0) * MAX_CLOSE
    for r in rigs:
        y = r.gy
        up, low, top = r.y_up[None, :], r.y_low[None, :], r.y_top[None, :]
        lid = up + b * (low - up)
        in_skin = (y >= top) & (y <= lid)
        in_eye = (y > lid) & (y <= low)
        # the lid skin is stretched mostly from its upper part, so the lashes stay a thin line at
        # the lid's edge instead of a dark smear over the eye
        u = np.clip((y - top) / np.maximum(lid - top, 1e-3), 0, 1)
        src_skin = top + (up - top) * u**LASH_POWER
        src_eye = up + (y - lid) * (low - up) / np.maximum(low - lid, 1e-3)
        sy = np.where(in_skin, src_skin, np.where(in_eye, src_eye, y))
        roi = cv2.remap(
            src, r.gx + r.x0, (sy + r.y0).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        dst[r.y0 : r.y1, r.x0 : r.x1] = roi

"""Synthetic clips for the one-person check: a talking, moving face, and one that turns into another person.

``other_person`` makes a second synthetic person from the procedural portrait: other
random strands and skin noise (another seed), the nose and mouth lower and the brows
higher (a longer mid-face), and another skin and hair colour, with the face at the same
place and size so that only identity, not geometry of the box, changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def other_person(size: int = 512) -> np.ndarray:
    import cv2

    from pipelines.assets.portrait import render_portrait

    img = render_portrait(size, seed=23).astype(np.float32)
    k = size / 512.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # a longer mid-face: points below the eyes move down (most at the nose/mouth), brows up
    eye_y, cx = 236 * k, 256 * k
    bump = np.exp(-(((xx - cx) / (70 * k)) ** 2))
    down = 26 * k * np.exp(-(((yy - 310 * k) / (45 * k)) ** 2)) * bump
    up = -12 * k * np.exp(-(((yy - 205 * k) / (16 * k)) ** 2)) * bump
    wider = 0.12 * (xx - cx) * np.exp(-(((yy - eye_y) / (60 * k)) ** 2))  # wider cheekbones
    map_x = xx - wider
    map_y = yy - down - up
    img = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # another complexion: warmer, darker skin and hair (the background is recoloured less)
    grey = img.mean(-1, keepdims=True)
    tint = np.array([1.0, 0.78, 0.62], np.float32)
    img = np.clip(grey * 0.35 + img * 0.65 * tint * 1.05, 0, 255)
    return img.astype(np.uint8)


def talking_frames(
    portrait: np.ndarray, n: int, fps: float, size: tuple[int, int], start: int = 0, amount: float = 1.0
):
    """``n`` frames of ``portrait`` talking (the warp renderer's mouth opening, blinks) with head motion."""
    import cv2

    from pipelines.face.avatar import landmarks as L
    from pipelines.face.warp.mouth import build_rig, open_mouth
    from pipelines.testing.portrait_clip import head_pose

    pts = L.face_mesh(portrait)
    if pts is None:
        raise ValueError("no face found in the portrait")
    rig = build_rig(portrait, pts)
    w, h = size
    ph, pw = portrait.shape[:2]
    base_scale = 0.8 * h / ph
    out = []
    for j in range(start, start + n):
        t = j / fps
        opening = max(0.0, np.sin(2 * np.pi * t * 2.3)) * 0.8 * (0.6 + 0.4 * np.sin(2 * np.pi * t * 0.7))
        face = portrait.copy()
        open_mouth(portrait, face, rig, float(opening))
        dx, dy, deg, sc = head_pose(t, amount)
        m = cv2.getRotationMatrix2D((pw / 2, ph * 0.6), deg, base_scale * sc)
        m[0, 2] += w / 2 - pw / 2 + dx * w
        m[1, 2] += h / 2 - ph * 0.6 + dy * h + 0.1 * h
        out.append(cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return out


def write_talking_clip(path: str | Path, seconds: float = 3.0, fps: float = 25.0, size=(480, 360), switch_s=None):
    """A talking, moving face; with ``switch_s`` it becomes ``other_person`` from that time on (same motion)."""
    from pipelines.face.avatar.video_io import write_clip
    from pipelines.testing.portrait_clip import load_portrait

    n = int(round(seconds * fps))
    a = load_portrait()
    if switch_s is None:
        frames = talking_frames(a, n, fps, size)
    else:
        k = int(round(switch_s * fps))
        frames = talking_frames(a, k, fps, size) + talking_frames(other_person(a.shape[0]), n - k, fps, size, start=k)
    return write_clip(path, frames, fps=fps)

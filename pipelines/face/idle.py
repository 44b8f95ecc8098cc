"""Frames the avatar shows between turns: part of the face stage's contract (``idle_frames``).

When the face backend can render its own idle frames (``render_frame(i, 0.0)``,
the warp renderer: the mouth closed, with its sway and blinks) those are used, so
the face between turns moves exactly as it does while speaking.  Otherwise an
enrolled video avatar plays its own frames forwards and backwards, and a still
portrait gets a slow "breathing" motion (a gentle scale and sway) so it does not
look frozen.  Rendered on the face stage's own worker thread (``Engine.idle_frames``
sends it an ``IdleRequest``), like every other frame of that stage.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def breathing_frames(image: np.ndarray, n: int = 75, amplitude: float = 0.008) -> np.ndarray:
    """``n`` frames of a still image moving gently (one slow breath per loop)."""
    import cv2

    h, w = image.shape[:2]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        phase = 2 * np.pi * i / n
        scale = 1.0 + amplitude * (1 - np.cos(phase)) / 2
        dy = -amplitude * 0.6 * h * (1 - np.cos(phase)) / 2
        dx = 0.002 * w * np.sin(phase)
        m = cv2.getRotationMatrix2D((w / 2, h * 0.9), 0.15 * np.sin(phase), scale)
        m[0, 2] += dx
        m[1, 2] += dy
        out[i] = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def read_rgb(path: Path, max_side: int = 720) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    h, w = bgr.shape[:2]
    if max(h, w) > max_side:
        f = max_side / max(h, w)
        bgr = cv2.resize(bgr, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def ping_pong(frames: np.ndarray, limit: int = 250) -> np.ndarray:
    frames = frames[:limit]
    if len(frames) <= 2:
        return frames
    return np.concatenate([frames, frames[-2:0:-1]])


def idle_frames(persona, settings, n: int = 75, face=None) -> tuple[np.ndarray | None, float]:
    """Idle loop for the persona (the renderer's own, else the enrolled avatar, else the portrait)."""
    fps = float(settings.face.fps)
    render = getattr(face, "render_frame", None)
    if callable(render):
        try:
            first = np.asarray(render(0, 0.0))
            frames = np.empty((n,) + first.shape, np.uint8)
            frames[0] = first
            for i in range(1, n):
                render(i, 0.0, out=frames[i])
            return ping_pong(frames), fps
        except Exception as exc:
            log.warning("the face renderer could not draw idle frames (%s); using the avatar", exc)
    try:
        from pipelines.face.avatar.loading import load_avatar

        avatar = load_avatar(persona, settings)
        frames = np.asarray(avatar.frames)
        if len(frames) > 1:
            return ping_pong(np.ascontiguousarray(frames[:250])), float(avatar.fps or fps)
        return breathing_frames(np.ascontiguousarray(frames[0]), n), fps
    except Exception as exc:  # no enrolled avatar (or the face package is not there yet)
        log.debug("no avatar for idle frames: %s", exc)
    portrait = getattr(persona, "portrait", None)
    if portrait is None or not Path(portrait).is_file():
        return None, fps
    try:
        return breathing_frames(read_rgb(Path(portrait)), n), fps
    except Exception as exc:
        log.warning("idle frames from %s failed: %s", portrait, exc)
        return None, fps

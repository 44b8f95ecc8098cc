"""Visemes for the ``warp`` mouth: phoneme timings (espeak-ng's own events) to mouth shapes per frame.

Each phoneme (espeak mnemonic, e.g. ``b``, ``'a``, ``u:``, ``aI``) belongs to a
viseme class with a target ``(opening, width)``: opening 0 is shut lips, 1 the
widest jaw; width 1 is the rest width, > 1 spread lips (i, e), < 1 rounded (o, u, w).

Per output frame the target is the overlap-weighted mix of the phonemes under
the frame, plus co-articulation: the next phoneme's shape leaks in before its
onset (anticipation) and the previous one lingers a little.  Bilabials (p b m)
are hard targets: any frame they cover is shut.  The curve is then eased: it
may change by at most ``MAX_STEP`` per frame (largest curve under the targets
with that slope), so the lips move in and out of a closure over 2–3 frames and
never pop.  Loudness only scales the opening (quieter speech opens less) and
closes the mouth in real silence; it does not decide the shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLOSED, ROUNDED, SPREAD, OPEN, TEETH, MID, NEUTRAL, REST = (
    "closed",
    "rounded",
    "spread",
    "open",
    "teeth",
    "mid",
    "neutral",
    "rest",
)

#: viseme -> (opening, width)
SHAPES = {
    CLOSED: (0.0, 1.0),
    ROUNDED: (0.45, 0.78),
    SPREAD: (0.38, 1.12),
    OPEN: (1.0, 1.0),
    TEETH: (0.16, 1.04),
    MID: (0.6, 1.0),
    NEUTRAL: (0.35, 1.0),
    REST: (0.0, 1.0),
}
#: per-frame limit on the change of the opening (0.4: shut to fully open in 2.5 frames)
MAX_STEP = 0.4
MAX_WIDTH_STEP = 0.08
ANTICIPATION_S = 0.06
LINGER_S = 0.03


def classify(phoneme: str) -> str:
    """The viseme class of one espeak phoneme mnemonic (stress marks and length ignored)."""
    p = phoneme.strip().lstrip("',%=").replace(":", "").replace("#", "")
    if not p or p.startswith("_"):
        return REST
    c = p[0]
    if c in "pbm":
        return CLOSED
    if c in "fv" or p in ("s", "z", "S", "Z", "tS", "dZ", "T", "D", "ts", "dz", "ts.", "s.", "z."):
        return TEETH
    if c in "ouwOUy0Y" or p in ("aU",):
        return ROUNDED
    if c in "iIejE" or p in ("eI", "i@"):
        return SPREAD
    if c in "aAV&" or p.startswith("aI"):
        return OPEN
    if c in "@3":
        return MID
    return NEUTRAL


def intervals(phonemes: Sequence[tuple[float, str]], duration: float) -> list[tuple[float, float, str]]:
    """``[(start_s, end_s, viseme), ...]``: each phoneme lasts until the next one starts."""
    ev = sorted((float(t), str(p)) for t, p in phonemes)
    out = []
    for k, (t, p) in enumerate(ev):
        end = ev[k + 1][0] if k + 1 < len(ev) else max(duration, t)
        if end > t:
            out.append((t, end, classify(p)))
    return out


def viseme_track(
    phonemes: Sequence[tuple[float, str]],
    fps: float,
    n_frames: int,
    levels_db: np.ndarray | None = None,
    silence_db: float = -45.0,
    start_opening: float = 0.0,
    start_width: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(openings, widths) per frame for a sentence's phonemes.

    ``levels_db`` (per frame, optional) scales the opening by loudness and shuts
    the mouth in silence.  ``start_*`` continue the previous sentence's last frame.
    """
    dur = n_frames / fps
    spans = intervals(phonemes, dur)
    opening = np.zeros(n_frames, np.float64)
    width = np.ones(n_frames, np.float64)
    weight = np.zeros(n_frames, np.float64)
    hard = np.zeros(n_frames, bool)
    edges = np.arange(n_frames + 1) / fps
    for k, (a, b, vis) in enumerate(spans):
        o, w = SHAPES[vis]
        # the phoneme itself, by overlap with each frame, plus anticipation before its onset
        # and a short linger after its end (co-articulation with the neighbours)
        for lo, hi, g in ((a, b, 1.0), (a - ANTICIPATION_S, a, 0.5), (b, b + LINGER_S, 0.3)):
            if hi <= lo:
                continue
            ov = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None) * fps * g
            opening += ov * o
            width += ov * (w - 1.0)
            weight += ov
        if vis == CLOSED:  # lips meet on every frame the bilabial covers for a fair share
            ov = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0, None) * fps
            hard |= ov >= 0.3
    has = weight > 0
    opening[has] /= weight[has]
    width[has] = 1.0 + (width[has] - 1.0) / weight[has]
    if levels_db is not None:
        lv = np.asarray(levels_db, np.float64)[:n_frames]
        voiced = lv >= silence_db
        peak = np.percentile(lv[voiced], 95) if voiced.any() else silence_db + 20
        gain = np.clip(0.55 + 0.5 * (lv - (peak - 24.0)) / 24.0, 0.45, 1.05)
        opening *= np.where(voiced, gain, 0.0)
        width = np.where(voiced, width, 1.0)
    opening[hard] = 0.0
    opening = _ease(opening, MAX_STEP, start_opening)
    width = 1.0 + _ease_signed(width - 1.0, MAX_WIDTH_STEP, start_width - 1.0)
    return opening.astype(np.float32), width.astype(np.float32)


def _ease(x: np.ndarray, step: float, start: float) -> np.ndarray:
    """The largest curve <= x whose frame-to-frame change is at most ``step`` (from ``start``)."""
    y = x.copy()
    prev = start
    for i in range(len(y)):  # closing may not be later than the target says...
        y[i] = min(y[i], prev + step)
        prev = y[i]
    for i in range(len(y) - 2, -1, -1):  # ...and a closure is approached over a few frames
        y[i] = min(y[i], y[i + 1] + step)
    return y


def _ease_signed(x: np.ndarray, step: float, start: float) -> np.ndarray:
    """Slew-limit a signed curve (width offset) to ``step`` per frame."""
    y = np.empty_like(x)
    prev = start
    for i, v in enumerate(x):
        prev = prev + float(np.clip(v - prev, -step, step))
        y[i] = prev
    return y

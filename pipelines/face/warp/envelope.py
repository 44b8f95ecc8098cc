"""How far the mouth is open on each video frame, from the audio's loudness.

Per frame: RMS of the audio in an 80 ms window centred on the frame's instant,
in dBFS; levels below ``SILENCE_DB`` are silence (mouth closed).  Voiced levels
are mapped to [0, 1] against the turn's running loudness peak (so a quiet and a
loud voice both use the whole range), then smoothed with a fast attack and a
slower release, as a jaw moves.  The smoother's state and the peak carry over
from sentence to sentence within a turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SILENCE_DB = -45.0  # below this the mouth is closed
RANGE_DB = 28.0  # loudness range mapped onto closed..fully open
HEADROOM_DB = 2.0  # the peak minus this is "fully open"
WINDOW_S = 0.08
ATTACK, RELEASE = 0.75, 0.45  # one-pole smoothing coefficients per frame (opening / closing)
MIN_OPENING = 0.04


@dataclass
class EnvelopeState:
    peak_db: float = SILENCE_DB + 18.0
    last: float = 0.0


def frame_levels(samples: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS level in dBFS around each frame's centre instant (n_frames values)."""
    x = np.asarray(samples, np.float64).reshape(-1)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = (np.arange(n_frames) + 0.5) / fps
    half = WINDOW_S / 2
    a = np.clip(np.round((centres - half) * sample_rate).astype(np.int64), 0, len(x))
    b = np.clip(np.round((centres + half) * sample_rate).astype(np.int64), 0, len(x))
    n = np.maximum(b - a, 1)
    rms = np.sqrt(np.maximum(c[b] - c[a], 0) / n)
    return (20 * np.log10(rms + 1e-10)).astype(np.float32)


def mouth_openings(
    samples: np.ndarray, sample_rate: int, fps: float, n_frames: int, state: EnvelopeState | None = None
) -> np.ndarray:
    """Opening in [0, 1] for each of ``n_frames`` frames; updates ``state`` in place."""
    state = state or EnvelopeState()
    level = frame_levels(samples, sample_rate, fps, n_frames)
    voiced = level >= SILENCE_DB
    if voiced.any():
        state.peak_db = max(state.peak_db, float(np.percentile(level[voiced], 95)))
    top = state.peak_db - HEADROOM_DB
    lo = max(SILENCE_DB, top - RANGE_DB)
    raw = np.clip((level - lo) / max(top - lo, 1.0), 0, 1)
    out = np.zeros(n_frames, np.float32)
    prev = state.last
    for i in range(n_frames):
        if not voiced[i]:
            prev = 0.0
        else:
            k = ATTACK if raw[i] > prev else RELEASE
            prev = prev + k * (raw[i] - prev)
        out[i] = prev if prev >= MIN_OPENING else 0.0
    state.last = float(prev)
    return out

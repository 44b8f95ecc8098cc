"""The one home of the audio chores every stage shares: down-mix, resample, fit to frames.

Audio between stages is mono float32 in [-1, 1].  2-D input is (frames, channels) when it
has at most 8 columns, else (channels, frames); integer PCM is scaled by 1/2^(bits-1).
"""

from __future__ import annotations

from math import gcd

import numpy as np


def as_mono_float32(samples: np.ndarray) -> np.ndarray:
    """``samples`` as a contiguous 1-D float32 array in [-1, 1].

    int16 is scaled by 1/32768; 2-D input (frames, channels) is averaged to mono.
    """
    a = np.asarray(samples)
    if a.ndim not in (1, 2):
        raise ValueError(f"audio must be 1-D (mono) or 2-D (frames, channels), got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    if a.ndim == 2:
        a = a.mean(axis=1) if a.shape[1] <= 8 else a.mean(axis=0)
    return np.ascontiguousarray(a, dtype=np.float32)


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (scipy) from ``sr_in`` to ``sr_out`` Hz; float32 out.

    The output has ``round(len * sr_out / sr_in)`` samples.
    """
    x = as_mono_float32(samples)
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out or len(x) == 0:
        return x.copy()
    from scipy.signal import resample_poly

    g = gcd(sr_in, sr_out)
    y = resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)
    n = int(round(len(x) * sr_out / sr_in))
    return fit_length(y, n)


def fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples."""
    if len(samples) >= n:
        return samples[:n]
    return np.concatenate([samples, np.zeros(n - len(samples), dtype=samples.dtype)])


def peak_limit(samples: np.ndarray, peak: float = 0.99) -> np.ndarray:
    """Scale down (never up) so that max |x| <= ``peak``."""
    m = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if m > peak:
        samples = samples * (peak / m)
    return samples.astype(np.float32, copy=False)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


def frame_count(duration_s: float, fps: float) -> int:
    """Video frames for ``duration_s`` of audio: audio is the clock."""
    return int(round(duration_s * fps))


def fit_to_frames(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """Mono ``samples`` padded with zeros or trimmed to exactly ``n_frames / fps`` seconds."""
    n = int(round(n_frames * sample_rate / fps))
    return fit_length(as_mono_float32(samples).copy(), n)

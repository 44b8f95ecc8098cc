"""Small audio helpers shared by the voice stages (resampling, format checks, F0 statistics)."""
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
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
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


def median_f0(samples: np.ndarray, sample_rate: int, method: str = "dio") -> float:
    """Median F0 in Hz over voiced frames (pyworld dio+stonemask or harvest); 0.0 if none is voiced."""
    import pyworld
    x = np.ascontiguousarray(samples, dtype=np.float64)
    if method == "harvest":
        f0, _ = pyworld.harvest(x, sample_rate)
    else:
        f0, t = pyworld.dio(x, sample_rate)
        f0 = pyworld.stonemask(x, f0, t, sample_rate)
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) else 0.0


def semitones(f_from: float, f_to: float) -> float:
    """Interval from ``f_from`` to ``f_to`` in semitones."""
    return 12.0 * float(np.log2(f_to / f_from))

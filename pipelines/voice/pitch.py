"""F0 statistics of a voice (persona profiles, tests)."""

from __future__ import annotations

import numpy as np


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

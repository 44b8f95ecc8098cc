"""The first sentence sooner: conversion in short overlapping windows, crossfaded, streamed.

A sentence at the model rate is cut into windows that start every ``hop`` samples and reach
``overlap`` samples into the next one (``hop`` rounded to whole 25 fps video frames, so the face
stage's frame padding never adds a gap).  Each window is converted with ``overlap`` of extra
context on both sides (trimmed away), and joined to the previous one by a raised-cosine crossfade
over the overlap.  ``windowed`` yields each finished piece as soon as its window is converted:
the pieces concatenated are the whole converted sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

VIDEO_FPS = 25


def window_hop(sample_rate: int, window_s: float, overlap_s: float) -> tuple[int, int]:
    """(hop, overlap) in samples; hop a whole number of video frames when the rate allows."""
    overlap = max(1, int(round(overlap_s * sample_rate)))
    hop = max(overlap + 1, int(round((window_s - overlap_s) * sample_rate)))
    frame = sample_rate / VIDEO_FPS
    if frame == int(frame):
        hop = max(int(frame), int(round(hop / frame)) * int(frame))
    return hop, overlap


def fade(n: int) -> np.ndarray:
    """Raised-cosine fade-in of ``n`` samples (fade-out is ``1 - fade``; they sum to 1)."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def windowed(
    x: np.ndarray, convert: Callable[[np.ndarray], np.ndarray], hop: int, overlap: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample, converted piece) for consecutive pieces of ``x``; ``convert`` keeps length."""
    n = len(x)
    starts = list(range(0, n, hop))
    if len(starts) > 1 and n - starts[-1] < overlap:  # a sliver at the end: give it to the last window
        starts.pop()
    tail: np.ndarray | None = None
    for k, a in enumerate(starts):
        last = k == len(starts) - 1
        b = n if last else min(n, a + hop + overlap)
        lo, hi = max(0, a - overlap), min(n, b + overlap)
        y = np.asarray(convert(x[lo:hi]), np.float32)[a - lo : a - lo + (b - a)]
        if tail is not None:
            m = min(len(tail), len(y))
            w = fade(m)
            y = y.copy()
            y[:m] = tail[:m] * (1 - w) + y[:m] * w
        if last:
            yield a, y
            return
        yield a, y[:hop]
        tail = y[hop:]

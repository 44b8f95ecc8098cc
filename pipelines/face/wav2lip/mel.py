"""Wav2Lip's audio front-end (``audio.py`` + ``hparams.py`` of Rudrabha/Wav2Lip), in numpy.

16 kHz audio -> pre-emphasis 0.97 -> STFT (n_fft 800, hop 200, Hann window
800, centred, reflect padding as in the librosa 0.7 the original pins) ->
magnitude -> 80 Slaney mel bands (55-7600 Hz) -> dB with a -100 dB floor,
minus a 20 dB reference -> symmetric normalisation clipped to [-4, 4].
That is 80 mel columns per second; video frame ``i`` at ``fps`` takes the 16
columns from ``int(i * 80 / fps)`` (the last windows clamped to the end).

Also here: resampling to 16 kHz and the per-frame loudness used to find
silent stretches (whose frames keep the original face).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipelines.media.audio import as_mono_float32 as to_mono_float32
from pipelines.media.audio import resample as _resample

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
MEL_STEP = 16  # mel columns per video frame window
MEL_PER_SECOND = SAMPLE_RATE / HOP  # 80
PAD_MODE = "reflect"  # librosa 0.7's stft default, which Wav2Lip was trained with


def resample(samples: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Wav2Lip's 16 kHz input from any rate (the shared resampler)."""
    return _resample(samples, sr_in, sr_out)


@lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX).astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    # periodic Hann, as librosa's get_window('hann', fftbins=True)
    n = np.arange(WIN)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / WIN)).astype(np.float64)


def stft_magnitude(y: np.ndarray) -> np.ndarray:
    """|STFT| (N_FFT//2+1, 1 + len(y)//HOP), centred with reflect padding (librosa's framing)."""
    y = np.asarray(y, dtype=np.float64)
    pad = N_FFT // 2
    if len(y) <= pad:  # reflect padding needs more samples than the pad; pad with zeros first
        y = np.pad(y, (0, pad + 1 - len(y)))
    y = np.pad(y, (pad, pad), mode=PAD_MODE)
    n_frames = 1 + (len(y) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n_frames, N_FFT), strides=(y.strides[0] * HOP, y.strides[0]), writeable=False
    )
    spec = np.fft.rfft(frames * _window(), n=N_FFT, axis=1)
    return np.abs(spec).T


def melspectrogram(wav16k: np.ndarray) -> np.ndarray:
    """The normalised mel spectrogram ``(80, 1 + len // 200)`` float32 of 16 kHz audio."""
    from scipy.signal import lfilter

    x = to_mono_float32(wav16k).astype(np.float64)
    emphasised = lfilter([1.0, -PREEMPHASIS], [1.0], x)
    mag = stft_magnitude(emphasised)
    mel = mel_basis().astype(np.float64) @ mag
    min_level = np.exp(MIN_LEVEL_DB / 20.0 * np.log(10.0))
    db = 20.0 * np.log10(np.maximum(min_level, mel)) - REF_LEVEL_DB
    norm = (2.0 * MAX_ABS_VALUE) * ((db - MIN_LEVEL_DB) / (-MIN_LEVEL_DB)) - MAX_ABS_VALUE
    return np.clip(norm, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def mel_start(i: int, fps: float) -> int:
    """First mel column of video frame ``i`` (unclamped)."""
    return int(i * MEL_PER_SECOND / fps)


def mel_windows(mel: np.ndarray, n_frames: int, fps: float, first_frame: int = 0) -> np.ndarray:
    """``(n, 80, 16)`` mel windows for video frames ``first_frame .. first_frame+n-1``.

    Window ``i`` starts at column ``int(i * 80 / fps)``; windows that would run
    past the end are clamped to the last 16 columns.  A spectrogram shorter
    than 16 columns is padded with silence (-4).
    """
    n_mels, total = mel.shape
    if total < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - total)), constant_values=-MAX_ABS_VALUE)
        total = MEL_STEP
    starts = np.array(
        [min(mel_start(i, fps), total - MEL_STEP) for i in range(first_frame, first_frame + n_frames)], dtype=np.int64
    )
    idx = starts[:, None] + np.arange(MEL_STEP)[None, :]
    return np.ascontiguousarray(np.transpose(mel[:, idx], (1, 0, 2)))


def frame_rms_db(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """RMS level (dBFS) of the audio under each video frame."""
    x = to_mono_float32(samples)
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64)
    edges = np.minimum(edges, len(x))
    sq = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    rms = np.sqrt((sq[edges[1:]] - sq[edges[:-1]]) / counts)
    return (20.0 * np.log10(np.maximum(rms, 1e-10))).astype(np.float32)


def silent_frames(level_db: np.ndarray, threshold_db: float, min_run: int = 3, margin: int = 1) -> np.ndarray:
    """Boolean mask of frames inside silent stretches.

    A frame is quiet below ``threshold_db``; sound frames are widened by
    ``margin`` frames on each side (the mouth opens a little before a sound and
    closes after it), and quiet runs shorter than ``min_run`` frames count as
    speech (short pauses between words do not snap the mouth shut).
    """
    loud = np.asarray(level_db) >= threshold_db
    n = len(loud)
    if margin > 0 and loud.any():
        grown = loud.copy()
        for k in range(1, margin + 1):
            grown[k:] |= loud[:-k]
            grown[:-k] |= loud[k:]
        loud = grown
    quiet = ~loud
    i = 0
    while i < n:
        if quiet[i]:
            j = i
            while j < n and quiet[j]:
                j += 1
            if j - i < min_run:
                quiet[i:j] = False
            i = j
        else:
            i += 1
    return quiet

"""Read a WAV (or any file libsndfile reads) as 16 kHz mono float32, with one clear line per problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..optional import require

ASR_RATE = 16000
#: below this there is no speech left to recognise (8 kHz telephone audio is upsampled: its 4 kHz band is kept)
MIN_RATE = 8000


class AudioInputError(ValueError):
    """A bad input file; the message says what is wrong and what to do."""


@dataclass
class SpeechAudio:
    samples: np.ndarray  # float32 mono at ASR_RATE
    sample_rate: int = ASR_RATE
    source: str = ""
    notes: tuple[str, ...] = ()  # what was done to the input (mixed down, resampled)

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def to_mono_16k(samples: np.ndarray, sr: int) -> tuple[np.ndarray, list[str]]:
    """Mix down to mono and resample to 16 kHz; returns the audio and what was done."""
    notes = []
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        if x.shape[1] > 1:
            notes.append(f"{x.shape[1]} channels mixed to mono")
        x = x.mean(axis=1)
    if sr != ASR_RATE:
        soxr = require("soxr", purpose="resampling audio for speech recognition")
        x = soxr.resample(x, sr, ASR_RATE).astype(np.float32)
        notes.append(f"resampled {sr} -> {ASR_RATE} Hz")
    return np.ascontiguousarray(x, dtype=np.float32), notes


def read_speech_file(path: str | Path) -> SpeechAudio:
    p = Path(path)
    if not p.is_file():
        raise AudioInputError(f"{p}: no such audio file")
    if p.stat().st_size == 0:
        raise AudioInputError(f"{p}: the file is empty (0 bytes); record the question again")
    sf = require("soundfile", purpose="reading audio files")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (
        RuntimeError,
        OSError,
        ValueError,
        EOFError,
    ) as exc:  # libsndfile says "Format not recognised", "unexpected end of file", ...
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise AudioInputError(
            f"{p}: not a readable audio file ({msg}); give a WAV file (8 kHz or more, mono or stereo)"
        ) from None
    if len(data) == 0:
        raise AudioInputError(f"{p}: the file holds no audio samples (0 s); record the question again")
    if sr < MIN_RATE:
        raise AudioInputError(
            f"{p}: sample rate {sr} Hz is too low: speech recognition needs 8 kHz or more "
            f"(16 kHz is best); record or export at 16 kHz"
        )
    samples, notes = to_mono_16k(data, sr)
    if sr < ASR_RATE:
        notes = [
            *notes,
            f"upsampled from {sr} Hz: nothing above {sr // 2} Hz was recorded, recognition may be less accurate",
        ]
    if not np.isfinite(samples).all():
        raise AudioInputError(f"{p}: the audio holds NaN or infinite samples (corrupt file)")
    if float(np.max(np.abs(samples))) < 1e-4:
        raise AudioInputError(
            f"{p}: the audio is silent ({len(data) / sr:.1f} s of digital silence); "
            "check the microphone and record again"
        )
    return SpeechAudio(samples, ASR_RATE, str(p), tuple(notes))

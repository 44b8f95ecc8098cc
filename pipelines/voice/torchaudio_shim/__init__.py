"""A small pure-torch stand-in for ``torchaudio`` (only what so-vits-svc-fork and torchcrepe use).

Why: the ``torchaudio`` wheel on PyPI is built against a CUDA torch of its own
version; next to the CPU torch this project installs, its compiled extension
fails to load (``OSError: Could not load this library: _torchaudio.abi3.so``),
and ``so_vits_svc_fork`` / ``torchcrepe`` import ``torchaudio`` at module level.

This package provides exactly the pieces they call, written with plain torch
operations and numerically equal to torchaudio's own Python implementations
(BSD-2-Clause, pytorch/audio; the formulas below are taken from
``torchaudio.functional.functional``):

* ``transforms.Spectrogram``, ``transforms.MelScale``, ``transforms.MelSpectrogram``,
  ``transforms.Resample``
* ``functional.spectrogram``, ``functional.melscale_fbanks``, ``functional.resample``
* ``load`` / ``save`` / ``info`` through ``soundfile``

It is never installed over the real package: ``pipelines.voice.sovits_compat.ensure_torchaudio()``
imports the real ``torchaudio`` when it loads (a GPU user who installed the
build matching their torch keeps it) and registers this module under the name
``torchaudio`` only when the real one is missing or broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import functional, transforms

__version__ = "0.0+pipelines.shim"
IS_PIPELINES_SHIM = True

__all__ = ["functional", "transforms", "load", "save", "info", "AudioMetaData"]


def load(
    uri: Any, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True, channels_first: bool = True, **_: Any
):
    """Read an audio file as (float32 tensor (channels, frames), sample_rate), like torchaudio.load."""
    import numpy as np
    import soundfile as sf
    import torch

    stop = None if num_frames is None or num_frames < 0 else frame_offset + num_frames
    data, sr = sf.read(
        str(uri) if isinstance(uri, Path) else uri,
        start=frame_offset,
        stop=stop,
        dtype="float32" if normalize else "int16",
        always_2d=True,
    )
    tensor = torch.from_numpy(np.ascontiguousarray(data.T if channels_first else data))
    return tensor, int(sr)


def save(uri: Any, src, sample_rate: int, channels_first: bool = True, **_: Any) -> None:
    """Write a (channels, frames) tensor as a 16-bit PCM file (format from the suffix)."""
    import soundfile as sf

    arr = src.detach().cpu().numpy()
    if arr.ndim == 1:
        arr = arr[:, None]
    elif channels_first:
        arr = arr.T
    sf.write(str(uri), arr, int(sample_rate), subtype="PCM_16")


class AudioMetaData:
    def __init__(self, sample_rate: int, num_frames: int, num_channels: int):
        self.sample_rate = sample_rate
        self.num_frames = num_frames
        self.num_channels = num_channels


def info(uri: Any, **_: Any) -> AudioMetaData:
    import soundfile as sf

    i = sf.info(str(uri))
    return AudioMetaData(int(i.samplerate), int(i.frames), int(i.channels))

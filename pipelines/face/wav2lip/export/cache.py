"""Real time by default on a CPU: a ``.pth`` checkpoint becomes a cached ONNX model on first use.

With ``face.wav2lip.runtime auto`` on the CPU, PyTorch fp32 renders ~16 fps on two cores,
short of 25 fps speech; the int8 ONNX export keeps up (``runtime openvino`` runs the fp32
export instead: ``fp32_for_checkpoint``).  So on first use the
checkpoint is exported (fp32 ONNX, then static int8 QDQ calibrated on the
persona's own face crops and espeak speech) and cached under a name keyed by
the checkpoint's content hash: next to the checkpoint when that folder is
writable, else in ``~/.cache/digital-persona/wav2lip/``.  A changed checkpoint
gets a new hash and a new export; later runs find the cached model at once.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipelines import onnx_cache

CALIBRATION_PAIRS = 48


def cache_dir() -> Path:
    return onnx_cache.cache_dir("wav2lip")


def cached_name(checkpoint: Path, precision: str = "int8") -> str:
    return onnx_cache.cached_name(checkpoint, precision)


def find_cached(checkpoint: Path, precision: str = "int8") -> Path | None:
    return onnx_cache.find_cached(checkpoint, cached_name(checkpoint, precision), "wav2lip")


def fp32_for_checkpoint(checkpoint: str | os.PathLike, log: Callable[[str], None] = print) -> Path:
    """The cached fp32 ONNX export of ``checkpoint`` (made now if missing): what OpenVINO runs in
    bf16 (``pipelines/openvino_runtime.py``)."""
    from pipelines.face.wav2lip.checkpoint import load_wav2lip
    from pipelines.face.wav2lip.export import onnx_export as ex

    pth = Path(checkpoint)
    hit = find_cached(pth, "fp32")
    if hit is not None:
        return hit
    dst = onnx_cache.target_folder(pth, "wav2lip") / cached_name(pth, "fp32")
    t0 = time.perf_counter()
    log(f"wav2lip: first use of {pth.name} with OpenVINO: exporting to ONNX (once; cached as {dst})")
    ex.export_fp32(load_wav2lip(pth), dst)  # written atomically
    log(f"wav2lip: ONNX model ready in {time.perf_counter() - t0:.0f} s")
    return dst


def int8_for_checkpoint(
    checkpoint: str | os.PathLike, crops: np.ndarray, persona=None, log: Callable[[str], None] = print
) -> Path:
    """The cached int8 ONNX export of ``checkpoint`` (made now, with progress lines, if missing)."""
    from pipelines.face.wav2lip.checkpoint import load_wav2lip
    from pipelines.face.wav2lip.export import onnx_export as ex
    from pipelines.face.wav2lip.export.calibration import SENTENCES, paired_inputs, speech_samples, speech_windows

    pth = Path(checkpoint)
    hit = find_cached(pth)
    if hit is not None:
        return hit
    folder = onnx_cache.target_folder(pth, "wav2lip")
    dst = folder / cached_name(pth)
    t0 = time.perf_counter()
    log(
        f"wav2lip: first use of {pth.name} on the CPU: making an int8 ONNX model for real-time "
        f"rendering (once; cached as {dst})"
    )
    log("wav2lip: [1/3] reading the checkpoint")
    model = load_wav2lip(pth)
    with tempfile.TemporaryDirectory() as work:
        log("wav2lip: [2/3] exporting to ONNX (fp32)")
        fp32 = ex.export_fp32(model, Path(work) / "w2l.fp32.onnx")
        windows = speech_windows(speech_samples(persona, SENTENCES[0::2]))
        mels, faces = paired_inputs(np.asarray(crops), windows, CALIBRATION_PAIRS, seed=0)
        log(f"wav2lip: [3/3] int8 calibration on {len(mels)} face/speech pairs")
        ex.quantize_int8(fp32, dst, mels, faces)  # written atomically
    log(f"wav2lip: int8 model ready in {time.perf_counter() - t0:.0f} s")
    return dst

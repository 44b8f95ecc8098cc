"""ONNX exports of the personal lip-sync model: fp32 (BatchNorm folded, dynamic batch) and int8.

The int8 step is the Wav2Lip tool's (``wav2lip/export/onnx_export.quantize_int8``: static
QDQ, calibrated with the same reader on real (mel, face) pairs); the inputs carry the
same names, ``mel_batch`` and ``face_batch``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.atomic_files import atomic_path
from pipelines.optional import require

OPSET = 17


def export_fp32(model, dst: str | Path) -> Path:
    torch = require("torch", "torch", "ONNX export")
    require("onnx", "onnx", "ONNX export")
    from pipelines.face.personal.model import fuse_batchnorm
    from pipelines.face.wav2lip.export.onnx_export import _set_meta, export_mel_face_graph

    fused = fuse_batchnorm(model.cpu().float().eval())
    s, cfg = fused.config.crop, fused.config
    mel, face = torch.zeros(2, 1, cfg.feature_dim, 16), torch.zeros(2, 6, s, s)
    with atomic_path(dst, suffix=".tmp.onnx") as tmp:
        export_mel_face_graph(fused, mel, face, tmp, OPSET)
        _set_meta(tmp, precision="fp32", model="personal-lipsync", audio_features=cfg.audio_features)
    return Path(dst)


def export_int8(fp32: str | Path, dst: str | Path, mels: np.ndarray, faces: np.ndarray, batch: int = 8) -> Path:
    import onnx

    from pipelines.face.wav2lip.export.onnx_export import _set_meta, quantize_int8

    out = quantize_int8(fp32, dst, np.asarray(mels, np.float32), np.asarray(faces, np.float32), batch=batch)
    meta = {p.key: p.value for p in onnx.load(str(fp32), load_external_data=False).metadata_props}
    _set_meta(out, model="personal-lipsync", audio_features=meta.get("audio_features", "mel"))
    return out


def calibration_pairs(data, count: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(mels (k,1,80,16), faces (k,6,S,S)) from training frames, speech and silence both."""
    from pipelines.face.personal.data import to_input

    rng = np.random.default_rng(seed)
    idx = rng.choice(data.train_idx, size=min(count, len(data.train_idx)), replace=False)
    refs = rng.choice(data.train_idx, size=len(idx))
    return data.windows[idx][:, None], to_input(data.crops[idx], data.crops[refs])


def export_all(weights: str | Path, data, out_dir: str | Path) -> dict[str, Path]:
    """fp32 and int8 exports of the published weights next to them."""
    from pipelines.face.personal.checkpoint import load_weights

    out_dir = Path(out_dir)
    model = load_weights(weights)
    fp32 = export_fp32(model, out_dir / "personal.fp32.onnx")
    mels, faces = calibration_pairs(data)
    int8 = export_int8(fp32, out_dir / "personal.int8.onnx", mels, faces)
    return {"fp32": fp32, "int8": int8}

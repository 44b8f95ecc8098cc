"""One call of the personal lip-sync model, ``(mel windows, faces) -> faces``, on PyTorch or ONNX Runtime.

``PersonalInference(path)``: a ``.safetensors`` made by ``lipsync-train`` (PyTorch,
BatchNorm folded, channels-last) or an ``.onnx`` export of it (fp32 or int8, by
``export.py``).  Inputs and output as ``PersonalUNet``: ``(B,1,80,16)`` mel windows (or
``(B,1,D,16)`` ContentVec ones, as the checkpoint's config / the export's input shape says),
``(B,6,S,S)`` faces, ``(B,3,S,S)`` RGB in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipelines.optional import require

INPUT_NAMES = ("mel_batch", "face_batch")  # as the Wav2Lip exports, so the same calibration reader fits
OUTPUT_NAME = "output"


class PersonalInference:
    def __init__(self, path: str | os.PathLike, runtime: str = "auto", device: str = "cpu", threads: int = 0):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.runtime = runtime if runtime in ("torch", "onnx") else ("onnx" if suffix == ".onnx" else "torch")
        self.device = device
        self.threads = int(threads)
        self.crop = 0
        self.precision = "fp32"
        self.audio_features, self.feature_dim = "mel", 80  # from the checkpoint's config / the export
        self._model = None
        self._session = None

    def describe(self) -> str:
        return f"{self.runtime}-{self.precision}@{self.device if self.runtime == 'torch' else 'cpu'}"

    def load(self) -> "PersonalInference":
        if self._model is not None or self._session is not None:
            return self
        if self.runtime == "torch":
            torch = require("torch", "torch", "the personal lip-sync model")
            from pipelines.face.personal.checkpoint import load_weights
            from pipelines.face.personal.model import fuse_batchnorm

            if self.threads > 0:
                torch.set_num_threads(self.threads)
            model = fuse_batchnorm(load_weights(self.path))
            self._model = model.to(self.device).to(memory_format=torch.channels_last).eval()
            self.crop = model.config.crop
            self.audio_features, self.feature_dim = model.config.audio_features, model.config.feature_dim
            self._torch = torch
        else:
            ort = require("onnxruntime", "onnxruntime", "ONNX lip-sync inference")
            if not self.path.is_file():
                raise FileNotFoundError(f"{self.path}: ONNX model not found; export it with 'lipsync-train --export'")
            from pipelines.ort_options import cpu_session_options

            opts = cpu_session_options(ort, self.threads, quiet=False)
            self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
            shape = {i.name: i.shape for i in self._session.get_inputs()}
            if set(shape) != set(INPUT_NAMES):
                raise ValueError(f"{self.path}: not a personal lip-sync export (inputs {sorted(shape)})")
            self.crop = int(shape[INPUT_NAMES[1]][-1])
            meta = self._session.get_modelmeta().custom_metadata_map
            self.precision = meta.get("precision", "fp32")
            self.feature_dim = int(shape[INPUT_NAMES[0]][2])
            self.audio_features = meta.get("audio_features", "mel" if self.feature_dim == 80 else "contentvec")
        return self

    def __call__(self, mel: np.ndarray, faces: np.ndarray) -> np.ndarray:
        self.load()
        mel = np.ascontiguousarray(np.asarray(mel, np.float32).reshape(len(mel), 1, self.feature_dim, 16))
        faces = np.ascontiguousarray(faces, np.float32)
        if faces.ndim != 4 or faces.shape[1:] != (6, self.crop, self.crop):
            raise ValueError(f"faces must be (B, 6, {self.crop}, {self.crop}), got {faces.shape}")
        if len(mel) == 0:
            return np.zeros((0, 3, self.crop, self.crop), np.float32)
        if self._session is not None:
            return np.asarray(self._session.run(None, {INPUT_NAMES[0]: mel, INPUT_NAMES[1]: faces})[0], np.float32)
        torch = self._torch
        with torch.inference_mode():
            m = torch.from_numpy(mel).to(self.device)
            f = torch.from_numpy(faces).to(self.device).contiguous(memory_format=torch.channels_last)
            return self._model(m, f).float().cpu().contiguous().numpy()

    def close(self) -> None:
        self._model = None
        self._session = None

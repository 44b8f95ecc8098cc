"""One Wav2Lip inference call, ``(mel windows, faces) -> generated faces``, on PyTorch, ONNX Runtime or OpenVINO.

``Wav2LipInference(path)`` takes the official ``.pth`` (run by PyTorch, with
BatchNorm folded into the convolutions) or an ``.onnx`` export (fp32, fp16 or
int8 QDQ, run by ONNX Runtime, or with ``runtime="openvino"`` by OpenVINO, bf16
where the CPU has it in hardware); the model or session is built once in
``load()`` and reused for every batch.

Also the tensor conventions of the original ``inference.py``: faces are
BGR / 255, channels 0-2 the target face with its lower half zeroed, channels
3-5 the reference face; the output is BGR in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipelines.face.wav2lip.model import FACE_SIZE, MEL_BANDS, MEL_STEPS
from pipelines.optional import require

INPUT_NAMES = ("mel_batch", "face_batch")
OUTPUT_NAME = "output"


def faces_to_input(crops_rgb: np.ndarray, reference_rgb: np.ndarray | None = None) -> np.ndarray:
    """``(B,96,96,3)`` uint8 RGB crops -> ``(B,6,96,96)`` float32 network input.

    Channels 0-2: the crop in BGR / 255 with rows >= 48 zeroed; channels 3-5:
    the reference (the crop itself unless ``reference_rgb`` is given).
    """
    crops = np.asarray(crops_rgb)
    if crops.ndim != 4 or crops.shape[1:] != (FACE_SIZE, FACE_SIZE, 3):
        raise ValueError(f"face crops must be (B, {FACE_SIZE}, {FACE_SIZE}, 3) uint8 RGB, got {crops.shape}")
    half = FACE_SIZE // 2
    out = np.empty((len(crops), 6, FACE_SIZE, FACE_SIZE), np.float32)
    scale = np.float32(1.0 / 255.0)
    ref = crops if reference_rgb is None else np.asarray(reference_rgb)
    np.multiply(ref[..., ::-1].transpose(0, 3, 1, 2), scale, out=out[:, 3:], casting="unsafe")
    if reference_rgb is None:  # the target is the reference with its lower half zeroed
        out[:, :3, :half] = out[:, 3:, :half]
    else:
        np.multiply(crops[:, :half, :, ::-1].transpose(0, 3, 1, 2), scale, out=out[:, :3, :half], casting="unsafe")
    out[:, :3, half:] = 0.0
    return out


def mels_to_input(windows: np.ndarray) -> np.ndarray:
    """``(B,80,16)`` mel windows -> ``(B,1,80,16)`` float32."""
    w = np.asarray(windows, np.float32)
    if w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4 or w.shape[1:] != (1, MEL_BANDS, MEL_STEPS):
        raise ValueError(f"mel windows must be (B, {MEL_BANDS}, {MEL_STEPS}), got {np.shape(windows)}")
    return np.ascontiguousarray(w)


def output_to_rgb(pred: np.ndarray) -> np.ndarray:
    """``(B,3,96,96)`` BGR in [0,1] -> ``(B,96,96,3)`` uint8 RGB."""
    x = np.asarray(pred, np.float32).transpose(0, 2, 3, 1)[..., ::-1]
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def resolve_runtime(path: Path, runtime: str) -> str:
    """'torch' for .pth/.pt, 'onnx' for .onnx; a clear error when settings disagree with the file."""
    suffix = path.suffix.lower()
    kind = {".pth": "torch", ".pt": "torch", ".tar": "torch", ".onnx": "onnx"}.get(suffix)
    if kind is None:
        raise ValueError(
            f"{path}: face.wav2lip.checkpoint must be a Wav2Lip .pth checkpoint or an .onnx export, "
            f"got a '{suffix or 'no'}' file"
        )
    if runtime in ("auto", "", None) or runtime == kind:
        return kind
    if runtime == "openvino":
        if kind == "onnx":
            return "openvino"
        raise ValueError(
            f"face.wav2lip.runtime is 'openvino' but {path} is a PyTorch checkpoint: OpenVINO runs the ONNX "
            f"export, which the face stage makes on first use (or: python -m pipelines export-onnx --checkpoint {path})"
        )
    if runtime == "onnx":
        raise ValueError(
            f"face.wav2lip.runtime is 'onnx' but face.wav2lip.checkpoint {path} is a PyTorch checkpoint: export it "
            f"first with 'python -m pipelines export-onnx --checkpoint {path}' and point "
            f"face.wav2lip.checkpoint at the .onnx file (or set face.wav2lip.runtime to 'auto')"
        )
    raise ValueError(
        f"face.wav2lip.runtime is '{runtime}' but face.wav2lip.checkpoint {path} is an ONNX export: point "
        f"face.wav2lip.checkpoint at the .pth checkpoint (or set face.wav2lip.runtime to 'auto')"
    )


def batch_bucket(n: int) -> int:
    """The batch size OpenVINO runs ``n`` frames at: a power of two up to 8, then a multiple of 8.

    OpenVINO's CPU plugin builds its kernels for each new input shape on that shape's first call
    (0.1-0.4 s for Wav2Lip on 2 cores, longer than the call itself), so the batches are padded to
    these few sizes, which ``warm_up`` runs once at load.  The frames of a batch are independent:
    padding does not change the others' output."""
    n = max(1, int(n))
    return 1 << (n - 1).bit_length() if n <= 8 else -(-n // 8) * 8


def _pad_batch(x: np.ndarray, size: int) -> np.ndarray:
    if len(x) >= size:
        return x
    pad = np.zeros((size - len(x), *x.shape[1:]), x.dtype)
    return np.concatenate([x, pad])


class Wav2LipInference:
    """The generator behind one call; built once by ``load()``."""

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        runtime: str = "auto",
        device: str = "cpu",
        threads: int = 0,
        half: bool = False,
        cpu_layout: bool = True,
    ):
        self.path = Path(checkpoint)
        #: int8 exports on the CPU provider run as ``onnx_rewrites.cpu_int8_model`` (one NHWC layout)
        self.cpu_layout = cpu_layout
        self.layout = ""
        self.runtime = resolve_runtime(self.path, runtime)
        self.device = device
        self.threads = int(threads)
        self.half = half
        self._model = None
        self._session = None
        self._in_types: dict[str, np.dtype] = {}
        self._names = INPUT_NAMES
        self.precision = "fp32"
        self.provider = ""

    @property
    def loaded(self) -> bool:
        return self._model is not None or self._session is not None

    def describe(self) -> str:
        dev = self.device if self.runtime == "torch" else self.provider
        layout = f"-{self.layout}" if self.layout else ""
        return f"{self.runtime}-{self.precision}{layout}@{dev}"

    # -- loading ---------------------------------------------------------------
    def load(self) -> "Wav2LipInference":
        if self.loaded:
            return self
        if self.runtime == "torch":
            self._load_torch()
        elif self.runtime == "openvino":
            self._load_openvino()
        else:
            self._load_onnx()
        return self

    def _load_openvino(self) -> None:
        from pipelines.openvino_runtime import OpenVinoSession

        if not self.path.is_file():
            raise FileNotFoundError(
                f"{self.path}: ONNX model not found; make it with 'python -m pipelines export-onnx'"
            )
        sess = OpenVinoSession(self.path, self.threads)
        self._bind_inputs(sess)
        self.provider = "cpu"
        self.precision = sess.precision
        self._session = sess

    def _load_torch(self) -> None:
        torch = require("torch", "torch", "Wav2Lip inference")
        from pipelines.face.wav2lip.checkpoint import load_wav2lip
        from pipelines.face.wav2lip.model import fuse_batchnorm

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("device is 'cuda' but PyTorch sees no CUDA GPU; set device to 'cpu' or 'auto'")
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        model = fuse_batchnorm(load_wav2lip(self.path, device="cpu"))
        if self.half and self.device.startswith("cuda"):
            model = model.half()
            self.precision = "fp16"
        # channels-last convolutions are ~1.5x faster on CPU (oneDNN) and no slower on GPUs
        self._model = model.to(self.device).to(memory_format=torch.channels_last).eval()
        self._torch = torch

    def _load_onnx(self) -> None:
        ort = require("onnxruntime", "onnxruntime", "ONNX Wav2Lip inference")
        if not self.path.is_file():
            raise FileNotFoundError(
                f"{self.path}: ONNX model not found; make it with "
                f"'python -m pipelines export-onnx' (or point face.wav2lip.checkpoint at a .pth)"
            )
        from pipelines.ort_options import cpu_session_options

        opts = cpu_session_options(ort, self.threads, quiet=False)
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if self.device.startswith("cuda") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        try:
            sess = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as exc:
            raise ValueError(
                f"{self.path}: ONNX Runtime cannot load this model ({exc}); "
                f"re-export it with 'python -m pipelines export-onnx'"
            ) from exc
        self._bind_inputs(sess)
        self.provider = sess.get_providers()[0].replace("ExecutionProvider", "").lower()
        self.precision = self._onnx_precision(sess)
        if self.precision == "int8" and self.provider == "cpu" and self.cpu_layout:
            sess = self._nhwc_int8_session(ort, opts, providers, sess)
        self._session = sess

    def _bind_inputs(self, sess) -> None:
        """Which input is the mel and which the faces, and their element types."""
        inputs = sess.get_inputs()
        if len(inputs) != 2:
            raise ValueError(
                f"{self.path}: expected a Wav2Lip export with 2 inputs (mel, faces), found {[i.name for i in inputs]}"
            )
        # which input is the mel: the one shaped (.., 80, 16)
        mel_first = list(inputs[0].shape[-2:]) == [MEL_BANDS, MEL_STEPS] or inputs[0].name == INPUT_NAMES[0]
        self._names = (inputs[0].name, inputs[1].name) if mel_first else (inputs[1].name, inputs[0].name)
        f16 = "tensor(float16)"
        self._in_types = {i.name: (np.float16 if i.type == f16 else np.float32) for i in inputs}

    def _nhwc_int8_session(self, ort, opts, providers, plain):
        """The int8 graph kept in NHWC throughout (same outputs, ~15 % faster); ``plain`` if it cannot be made."""
        import warnings

        from pipelines.face.wav2lip.export.rewrites import cpu_int8_model

        try:
            model = cpu_int8_model(self.path)
            sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=providers)
        except Exception as exc:  # a foreign export ORT fuses differently: run it as it is
            warnings.warn(f"{self.path}: int8 NHWC layout pass failed ({exc}); running the QDQ graph as it is")
            return plain
        if [i.name for i in sess.get_inputs()] != [i.name for i in plain.get_inputs()]:
            return plain
        self.layout = "nhwc"
        return sess

    def _onnx_precision(self, sess) -> str:
        """From the export's metadata; for foreign exports, from the file name or the input type."""
        meta = sess.get_modelmeta().custom_metadata_map
        if meta.get("precision") in ("fp32", "fp16", "int8"):
            return meta["precision"]
        name = self.path.stem.lower()
        for tag in ("int8", "fp16", "fp32"):
            if tag in name:
                return tag
        return "fp16" if np.float16 in self._in_types.values() else "fp32"

    def warm_up(self, first_batch: int, max_batch: int) -> None:
        """Run once at load what the first turn would otherwise pay for on its first calls: the
        first batch's size (allocations, kernel choices), and with OpenVINO every padded batch size
        up to ``max_batch`` (``batch_bucket``)."""
        sizes = {batch_bucket(first_batch) if self.runtime == "openvino" else max(1, first_batch)}
        if self.runtime == "openvino":
            sizes |= {batch_bucket(k) for k in range(1, max(1, max_batch) + 1)}
        for k in sorted(sizes):
            self(np.zeros((k, 1, MEL_BANDS, MEL_STEPS), np.float32), np.zeros((k, 6, FACE_SIZE, FACE_SIZE), np.float32))

    # -- inference ---------------------------------------------------------------
    def __call__(self, mel: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """``(B,1,80,16)`` + ``(B,6,96,96)`` float32 -> ``(B,3,96,96)`` float32 in [0,1]."""
        if not self.loaded:
            self.load()
        mel = mels_to_input(mel)
        faces = np.asarray(faces, np.float32)
        if faces.ndim != 4 or faces.shape[1:] != (6, FACE_SIZE, FACE_SIZE):
            raise ValueError(f"faces must be (B, 6, {FACE_SIZE}, {FACE_SIZE}), got {faces.shape}")
        if len(mel) != len(faces):
            raise ValueError(f"{len(mel)} mel windows but {len(faces)} faces")
        if len(mel) == 0:
            return np.zeros((0, 3, FACE_SIZE, FACE_SIZE), np.float32)
        if self._session is not None:
            n = len(mel)
            if self.runtime == "openvino":  # a few batch sizes only: each new one costs OpenVINO a compile
                mel, faces = _pad_batch(mel, batch_bucket(n)), _pad_batch(faces, batch_bucket(n))
            m_name, f_name = self._names
            out = self._session.run(
                None,
                {
                    m_name: mel.astype(self._in_types[m_name], copy=False),
                    f_name: faces.astype(self._in_types[f_name], copy=False),
                },
            )[0]
            return np.asarray(out[:n], np.float32)
        torch = self._torch
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        with torch.inference_mode():
            m = torch.from_numpy(mel).to(self.device, dtype)
            f = torch.from_numpy(faces).to(self.device, dtype).contiguous(memory_format=torch.channels_last)
            return self._model(m, f).float().cpu().contiguous().numpy()

    def close(self) -> None:
        self._model = None
        self._session = None

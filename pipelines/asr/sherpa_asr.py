"""``asr.backend = sherpa-onnx``: a local SenseVoice or Paraformer folder, the fast Chinese path on CPU.

A sherpa-onnx offline model folder holds ``model.onnx`` (or ``model.int8.onnx``)
and ``tokens.txt``; the kind is read from the folder name (``sense-voice`` /
``paraformer``, as in sherpa-onnx's release archives) or, failing that, from
the ONNX model's metadata (``model_type``).  ``check_sherpa_folder`` names each
missing file on its own line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..optional import require
from .recognizer import Recognizer, at_16k

MODEL_FILES = ("model.int8.onnx", "model.onnx")


def check_sherpa_folder(path: Path) -> list[str]:
    """One line per missing file of a SenseVoice / Paraformer folder (empty: complete)."""
    if not path.is_dir():
        return [
            (
                f"{path}: not a folder (set asr.model_dir to a sherpa-onnx SenseVoice or Paraformer folder, "
                "e.g. module/sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17)"
            )
        ]
    missing = []
    if not any((path / m).is_file() for m in MODEL_FILES):
        missing.append(f"{path}: missing the acoustic model ({' or '.join(MODEL_FILES)})")
    if not (path / "tokens.txt").is_file():
        missing.append(f"{path}: missing tokens.txt (the model's token table)")
    return missing


def model_kind(path: Path, model: Path) -> str:
    name = path.name.lower().replace("_", "-")
    if "paraformer" in name:
        return "paraformer"
    if "sense-voice" in name or "sensevoice" in name:
        return "sense_voice"
    ort = require("onnxruntime", purpose="reading the sherpa-onnx model's metadata")
    try:
        meta = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types for a bad file
        raise ValueError(
            f"{model}: not a readable ONNX model ({type(exc).__name__}); re-download the sherpa-onnx model folder"
        ) from None
    kind = meta.custom_metadata_map.get("model_type", "").lower().replace("-", "_")
    if "paraformer" in kind:
        return "paraformer"
    if "sense" in kind:
        return "sense_voice"
    raise ValueError(
        f"{path}: cannot tell whether this is a SenseVoice or a Paraformer model (name the folder "
        "…sense-voice… or …paraformer…, as in sherpa-onnx's releases)"
    )


class SherpaRecognizer(Recognizer):
    backend = "sherpa-onnx"

    def __init__(self, asr_settings, settings=None) -> None:
        self.asr = asr_settings
        self.settings = settings
        self.recognizer = None
        self.threads = settings.threads if settings is not None and settings.threads else 2

    @property
    def folder(self) -> Path:
        if not self.asr.model_dir:
            raise FileNotFoundError("asr.backend sherpa-onnx needs asr.model_dir: a SenseVoice or Paraformer folder")
        return Path(self.settings.resolve(self.asr.model_dir)) if self.settings else Path(self.asr.model_dir)

    def load(self) -> None:
        folder = self.folder
        problems = check_sherpa_folder(folder)
        if problems:
            raise FileNotFoundError("; ".join(problems))
        so = require("sherpa_onnx", "sherpa-onnx", "the sherpa-onnx recogniser")
        model = next(folder / m for m in MODEL_FILES if (folder / m).is_file())
        tokens = str(folder / "tokens.txt")
        kind = model_kind(folder, model)
        if kind == "paraformer":
            self.recognizer = so.OfflineRecognizer.from_paraformer(
                paraformer=str(model), tokens=tokens, num_threads=self.threads
            )
        else:
            lang = self.asr.language if self.asr.language in ("zh", "en") else "auto"
            self.recognizer = so.OfflineRecognizer.from_sense_voice(
                model=str(model), tokens=tokens, num_threads=self.threads, language=lang, use_itn=True
            )
        self.backend = f"sherpa-onnx ({kind})"

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        if self.recognizer is None:
            self.load()
        stream = self.recognizer.create_stream()
        stream.accept_waveform(16000, at_16k(samples, sample_rate))
        self.recognizer.decode_stream(stream)
        return stream.result.text.strip()

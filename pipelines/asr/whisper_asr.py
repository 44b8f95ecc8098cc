"""``asr.backend = whisper``: a local transformers Whisper folder (e.g. ``module/whisper-small``).

Any language Whisper knows, Chinese included; ``asr.language`` (``en``/``zh``)
forces the language token, ``auto`` lets the model detect it.  Partial text
while the user speaks: the audio so far is decoded again every half second
(``VoiceInput``), greedy and short, so it stays cheap on CPU for small models.
Nothing is downloaded (``local_files_only``) and no remote code runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..optional import require
from .recognizer import Recognizer, at_16k

WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TOKENIZER = (("vocab.json", "merges.txt"), ("tokenizer.json",))


def check_whisper_folder(path: Path) -> list[str]:
    """One line per missing file of a transformers Whisper folder (empty: complete)."""
    if not path.is_dir():
        return [f"{path}: not a folder (set asr.model_dir to a transformers Whisper folder, e.g. module/whisper-small)"]
    missing = []
    if not (path / "config.json").is_file():
        missing.append(f"{path}: missing config.json (the model configuration)")
    if not any((path / w).is_file() for w in WEIGHTS):
        missing.append(f"{path}: missing the weights ({' or '.join(WEIGHTS)})")
    if not any((path / f).is_file() for f in ("preprocessor_config.json", "processor_config.json")):
        missing.append(f"{path}: missing preprocessor_config.json (the log-mel feature extractor)")
    if not any(all((path / f).is_file() for f in group) for group in TOKENIZER):
        missing.append(f"{path}: missing the tokenizer (vocab.json + merges.txt, or tokenizer.json)")
    return missing


class WhisperRecognizer(Recognizer):
    backend = "whisper"
    supports_partials = True

    def __init__(self, asr_settings, settings=None, device: str | None = None) -> None:
        self.asr = asr_settings
        self.settings = settings
        self.device = device or (settings.resolved_device() if settings is not None else "cpu")
        self.model = self.processor = None
        self.max_new_tokens = 128

    @property
    def folder(self) -> Path:
        if not self.asr.model_dir:
            raise FileNotFoundError(
                "asr.backend whisper needs asr.model_dir: a local transformers Whisper "
                "folder (e.g. module/whisper-small)"
            )
        return Path(self.settings.resolve(self.asr.model_dir)) if self.settings else Path(self.asr.model_dir)

    def load(self) -> None:
        folder = self.folder
        problems = check_whisper_folder(folder)
        if problems:
            raise FileNotFoundError("; ".join(problems))
        require("torch", purpose="the whisper recogniser")
        tf = require("transformers", purpose="the whisper recogniser")
        self.processor = tf.WhisperProcessor.from_pretrained(str(folder), local_files_only=True)
        self.model = tf.WhisperForConditionalGeneration.from_pretrained(str(folder), local_files_only=True)
        self.model.to(self.device).eval()
        gc = self.model.generation_config
        self.backend = f"whisper ({folder.name})"
        self._language = None
        if self.asr.language in ("en", "zh") and f"<|{self.asr.language}|>" in (getattr(gc, "lang_to_id", None) or {}):
            self._language = self.asr.language

    def _decode(self, samples: np.ndarray, sample_rate: int, max_new_tokens: int) -> str:
        import torch

        if self.model is None:
            self.load()
        x = at_16k(samples, sample_rate)
        feats = self.processor.feature_extractor(x, sampling_rate=16000, return_tensors="pt").input_features
        room = self.model.config.max_target_positions - 4  # start, language, task, no-timestamps tokens
        kwargs = {"max_new_tokens": max(1, min(max_new_tokens, room)), "do_sample": False, "num_beams": 1}
        if getattr(self.model.generation_config, "lang_to_id", None):
            kwargs["task"] = "transcribe"
            if self._language:
                kwargs["language"] = self._language
        with torch.inference_mode():
            ids = self.model.generate(feats.to(self.device, self.model.dtype), **kwargs)
        return self.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip()

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        return self._decode(samples, sample_rate, self.max_new_tokens)

    def partial(self, samples: np.ndarray, sample_rate: int) -> str:
        return self._decode(samples, sample_rate, 32)

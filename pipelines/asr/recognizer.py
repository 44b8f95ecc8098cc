"""The contract of a speech recogniser backend, and the factory by ``asr.backend``.

A recogniser is plain Python owned by one thread:

* ``load()`` once (raise with a message that says what is missing),
* ``transcribe(samples, sample_rate) -> str`` for one whole utterance
  (float32 mono; backends resample to what they need),
* ``partial(samples, sample_rate) -> str`` (optional, ``supports_partials``):
  the text so far of an utterance still being spoken.
"""

from __future__ import annotations

import importlib

import numpy as np

BACKENDS = {
    "pocketsphinx": "pipelines.asr.pocketsphinx_asr:PocketsphinxRecognizer",
    "whisper": "pipelines.asr.whisper_asr:WhisperRecognizer",
    "sherpa-onnx": "pipelines.asr.sherpa_asr:SherpaRecognizer",
}


class Recognizer:
    backend: str = ""
    supports_partials: bool = False

    def load(self) -> None:
        pass

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        raise NotImplementedError

    def partial(self, samples: np.ndarray, sample_rate: int) -> str:
        return ""

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return self.backend


def at_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    from .audio_input import to_mono_16k

    return to_mono_16k(samples, sample_rate)[0]


def build_recognizer(asr_settings, settings=None) -> Recognizer:
    backend = asr_settings.backend
    try:
        target = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown asr backend {backend!r} (known: {', '.join(sorted(BACKENDS))})") from None
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(asr_settings, settings)

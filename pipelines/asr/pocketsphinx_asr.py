"""``asr.backend = pocketsphinx``: CMU PocketSphinx, the embedded US-English default.

The ``pocketsphinx`` wheel ships its en-US acoustic model, language model and
dictionary, so nothing is downloaded.  ``asr.model_dir`` may point at another
model folder laid out like the wheel's (``<dir>/en-us/en-us``,
``en-us.lm.bin``, ``cmudict-en-us.dict``, or an acoustic model folder with
``*.lm.bin`` / ``*.dict`` next to it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..optional import require
from .recognizer import Recognizer, at_16k


class PocketsphinxRecognizer(Recognizer):
    backend = "pocketsphinx"
    supports_partials = True

    def __init__(self, asr_settings, settings=None) -> None:
        self.asr = asr_settings
        self.settings = settings
        self.decoder = None
        self._partial_decoder = None

    def _model_args(self) -> dict:
        if not self.asr.model_dir:
            return {}
        root = Path(self.settings.resolve(self.asr.model_dir) if self.settings else self.asr.model_dir)
        if not root.is_dir():
            raise FileNotFoundError(
                f"asr.model_dir {root}: not a folder (empty it to use the model in the pocketsphinx wheel)"
            )
        hmm = root / "en-us" / "en-us" if (root / "en-us" / "en-us").is_dir() else root
        lm = sorted(root.rglob("*.lm.bin"))
        dic = sorted(root.rglob("*.dict"))
        missing = [
            n
            for n, ok in (
                ("acoustic model (mdef file)", (hmm / "mdef").is_file()),
                ("language model (*.lm.bin)", bool(lm)),
                ("dictionary (*.dict)", bool(dic)),
            )
            if not ok
        ]
        if missing:
            raise FileNotFoundError(f"asr.model_dir {root}: missing " + ", ".join(missing))
        return {"hmm": str(hmm), "lm": str(lm[0]), "dict": str(dic[0])}

    def load(self) -> None:
        ps = require("pocketsphinx", purpose="the pocketsphinx speech recogniser")
        # finals: batch cepstral mean normalisation over each whole utterance (the VAD cuts whole
        # utterances), each from the model's initial mean, on a decoder that never runs partials:
        # measured, with live CMN or with partial decodes on the same decoder, earlier audio changed
        # later finals ("where do you live" -> "where do you")
        self.decoder = ps.Decoder(samprate=16000, loglevel="FATAL", cmn="batch", **self._model_args())
        self._cmn0 = self.decoder.get_cmn(False)
        self._ps = ps

    @staticmethod
    def _pcm(samples: np.ndarray, sample_rate: int) -> bytes:
        x = np.clip(at_16k(samples, sample_rate), -1.0, 1.0)
        return (x * 32767.0).astype("<i2").tobytes()

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        if self.decoder is None:
            self.load()
        d = self.decoder
        d.set_cmn(self._cmn0)
        d.start_utt()
        d.process_raw(self._pcm(samples, sample_rate), False, True)
        d.end_utt()
        hyp = d.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def partial(self, samples: np.ndarray, sample_rate: int) -> str:
        if self.decoder is None:
            self.load()
        if self._partial_decoder is None:  # its own decoder: partial decodes never touch the final one
            self._partial_decoder = self._ps.Decoder(samprate=16000, loglevel="FATAL", **self._model_args())
        d = self._partial_decoder
        d.set_cmn(self._cmn0)
        d.start_utt()
        d.process_raw(self._pcm(samples, sample_rate), False, False)
        hyp = d.hyp()
        d.end_utt()
        return hyp.hypstr.strip() if hyp is not None else ""

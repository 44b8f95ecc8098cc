"""Spoken turns for the engine: a file or a microphone stream -> VAD -> ASR stage -> ``engine.submit``.

``VoiceInput.recognize_file`` makes one turn text of one file;
``VoiceInput.feed`` takes microphone blocks and returns the utterances it
recognised (a front-end submits each as a turn).  The turn record keeps the
audio's duration and the recognised text (``TurnRecord.speech``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..messages import UserTurn
from ..stage import TurnContext
from .audio_input import (
    ASR_RATE,
    AudioInputError,
    SpeechAudio,
    read_speech_file,
    to_mono_16k,
)
from .stage import AsrStage, PartialText, SpokenInput
from .vad import UtteranceCutter, speech_segments


@dataclass
class Recognized:
    text: str
    speech: dict  # what goes into TurnRecord.speech
    end_of_speech: float | None = None  # perf_counter time of end of speech (live input)


class VoiceInput:
    def __init__(
        self,
        settings,
        stage: AsrStage | None = None,
        *,
        on_partial: Callable[[str], None] | None = None,
        partial_every_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.stage = stage or AsrStage(settings)
        self.cutter: UtteranceCutter | None = None
        self.on_partial = on_partial
        self.partial_every = partial_every_s
        self._ids = itertools.count(1)
        self._last_partial = 0.0

    def load(self) -> VoiceInput:
        self.stage.load()
        self.cutter = UtteranceCutter(end_pause_s=self.settings.asr.end_pause_s)
        return self

    def close(self) -> None:
        self.stage.close()

    def _recognize(self, samples: np.ndarray, source: str) -> Recognized:
        uid = next(self._ids)
        outs = list(self.stage.process(SpokenInput(uid, samples, ASR_RATE), TurnContext(uid)))
        text = " ".join(m.text for m in outs if isinstance(m, UserTurn)).strip()
        speech = dict(self.stage.last_figures, source=source)
        return Recognized(text, speech)

    # -- files ----------------------------------------------------------------
    def recognize_file(self, path) -> Recognized:
        """The text of one recording; ``AudioInputError`` with one clear line for a bad file."""
        audio: SpeechAudio = read_speech_file(path)
        segs = speech_segments(audio.samples, end_pause_s=self.settings.asr.end_pause_s)
        if not segs:
            raise AudioInputError(
                f"{path}: no speech found in {audio.duration:.1f} s of audio "
                "(silence or noise only); speak closer to the microphone and record again"
            )
        start = max(0, int((segs[0].start_s - 0.2) * ASR_RATE))
        end = min(len(audio.samples), int((segs[-1].end_s + 0.3) * ASR_RATE))
        rec = self._recognize(audio.samples[start:end], str(path))
        rec.speech["audio_s"] = round(audio.duration, 3)  # the whole file's duration
        if audio.notes:
            rec.speech["notes"] = list(audio.notes)
        if not rec.text:
            raise AudioInputError(
                f"{path}: speech found but no words recognised by {self.stage.backend} "
                f"(language {self.settings.asr.language}); speak clearly or try another asr.backend"
            )
        return rec

    # -- live stream ------------------------------------------------------------
    def feed(self, block: np.ndarray, sample_rate: int = ASR_RATE, now: float | None = None) -> list[Recognized]:
        """Microphone audio in; utterances recognised so far out (may be empty)."""
        if self.cutter is None:
            self.load()
        x = block if sample_rate == ASR_RATE else to_mono_16k(block, sample_rate)[0]
        out = []
        for utt in self.cutter.feed(x):
            r = self._recognize(utt.samples, "mic")
            r.end_of_speech = now
            if r.text:
                out.append(r)
        if self.on_partial and self.cutter.in_speech and self.stage.recognizer.supports_partials:
            audio = self.cutter.partial()
            if len(audio) / ASR_RATE - self._last_partial >= self.partial_every:
                self._last_partial = len(audio) / ASR_RATE
                for m in self.stage.process(SpokenInput(0, audio, ASR_RATE, final=False), TurnContext(0)):
                    if isinstance(m, PartialText):
                        self.on_partial(m.text)
        elif not self.cutter.in_speech:
            self._last_partial = 0.0
        return out

    @property
    def in_speech(self) -> bool:
        return bool(self.cutter and self.cutter.in_speech)

    @property
    def speech_probability(self) -> float:
        return self.cutter.last_probability if self.cutter else 0.0

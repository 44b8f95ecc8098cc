"""Base voice through ``pyttsx3`` (DL-B's choice), an option next to ``espeak``.

pyttsx3 is a front end over the platform's speech driver: SAPI5 on Windows,
NSSpeechSynthesizer on macOS, libespeak(-ng) on Linux.  On Linux no system
espeak is needed: we first load the ``espeakng-loader`` wheel's libespeak-ng
into the process (``EspeakLibrary``, loaded with RTLD_GLOBAL so pyttsx3's
``dlopen("libespeak-ng.so.1")`` finds it by soname) and point
``ESPEAK_DATA_PATH`` at the wheel's data.  Both backends then share one
library, so every call holds ``EspeakLibrary.lock``, pyttsx3's synth
callback is registered again before each sentence; pyttsx3 leaves the library
in asynchronous mode, so ``EspeakLibrary`` then waits for its own end-of-message
event before it lets the next caller in.

Rendering goes through ``save_to_file`` into a temporary WAV (pyttsx3 has no
in-memory API), which is read back and deleted.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from pipelines.media.audio import as_mono_float32

from ..messages import AudioChunk, Message, Sentence
from ..optional import require
from ..settings import Pyttsx3Settings
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv
from .espeak_tts import EspeakLibrary
from .text_normalize import has_cjk, normalize


class Pyttsx3Unavailable(RuntimeError):
    pass


class Pyttsx3TTS(Stage):
    """``tts`` backend ``pyttsx3``: one ``AudioChunk`` per ``Sentence`` at the driver's rate."""

    name = "tts"

    settings_section = "voice.pyttsx3"

    def __init__(self, cfg: Pyttsx3Settings, persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.engine = None
        self._espeak: EspeakLibrary | None = None
        self._lock: threading.RLock = EspeakLibrary.lock

    # same voice rules as EspeakTTS
    def language_for(self, text: str) -> str:
        forced = self.env.language
        return forced if forced in ("zh", "en") else ("zh" if has_cjk(text) else "en")

    def voice_for(self, language: str) -> str:
        if self.cfg.voice:
            return self.cfg.voice
        if self._espeak is None:
            return ""  # another platform driver: keep its default voice
        v = self.persona.voice
        return v.espeak_voice_zh if language == "zh" else v.espeak_voice_en

    def load(self) -> None:
        pyttsx3 = require("pyttsx3", "pyttsx3", "the pyttsx3 base voice")
        driver = None
        if sys.platform.startswith("linux"):
            self._espeak = EspeakLibrary.get()
            os.environ.setdefault("ESPEAK_DATA_PATH", self._espeak.data_path)
            driver = "espeak"
        try:
            with self._lock:
                self.engine = pyttsx3.init(driver) if driver else pyttsx3.init()
        except Exception as exc:
            raise Pyttsx3Unavailable(
                f"pyttsx3 could not start a speech driver ({type(exc).__name__}: {exc}). "
                "Set voice.tts_backend to 'espeak' (the default base voice, needs no system packages)."
            ) from exc
        if self._espeak is not None:
            # pyttsx3 re-initialised espeak in asynchronous mode (its loop needs the end-of-message
            # event, which synchronous mode never sends): EspeakTTS now waits for that event, or a
            # late one of its sentences would end pyttsx3's next sentence early (measured: empty WAVs)
            self._espeak.asynchronous = True
            import pyttsx3.drivers.espeak as espeak_driver

            espeak_driver.print = lambda *a, **k: None  # it prints "Audio saved to ..." on stdout
            for lang in ("zh", "en"):
                self._espeak.check_voice(self.voice_for(lang))
        normalize("2023年3月1日", "zh")  # import cn2an now

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """(float32 mono samples, sample rate) for ``text``; empty if nothing is speakable."""
        if self.engine is None:
            self.load()
        lang = self.language_for(text)
        spoken = normalize(text, lang)
        if not any(ch.isalnum() for ch in spoken):
            return np.zeros(0, dtype=np.float32), 22050
        # pyttsx3's espeak loop now and then ends a sentence before any audio arrived (an empty or
        # header-only WAV: about 1 in 100 here, with or without EspeakTTS in the process; a known
        # pyttsx3 problem): try again a few times before giving up
        for _attempt in range(self.ATTEMPTS):
            samples, sr = self._render(spoken, lang)
            if len(samples):
                return samples, sr
        raise Pyttsx3Unavailable(
            f"pyttsx3 wrote no audio for {text[:40]!r} in {self.ATTEMPTS} attempts: set voice.tts_backend to 'espeak'"
        )

    ATTEMPTS = 4

    def _render(self, spoken: str, lang: str) -> tuple[np.ndarray, int]:
        import soundfile as sf

        fd, tmp = tempfile.mkstemp(prefix="pyttsx3-", suffix=".wav")
        os.close(fd)
        try:
            with self._lock:
                e = self.engine
                if self._espeak is not None:
                    from pyttsx3.drivers import _espeak

                    _espeak.SetSynthCallback(e.proxy._driver._onSynth)  # EspeakTTS may have taken it
                voice = self.voice_for(lang)
                if voice:
                    e.setProperty("voice", voice)
                rate = self.cfg.rate or self.persona.voice.rate_wpm
                e.setProperty("rate", int(rate))
                if self._espeak is not None:
                    pitch = self.cfg.pitch
                    e.setProperty("pitch", int(pitch if pitch >= 0 else self.persona.voice.pitch))
                e.save_to_file(spoken, tmp)
                e.runAndWait()
            if Path(tmp).stat().st_size <= 44:  # nothing, or a bare WAV header
                return np.zeros(0, dtype=np.float32), 22050
            samples, sr = sf.read(tmp, dtype="float32", always_2d=False)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return as_mono_float32(samples), int(sr)

    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, Sentence):
            raise TypeError(f"tts expects Sentence messages, got {type(msg).__name__}")
        audio, sr = self.synthesize(msg.text)
        if len(audio) == 0 or ctx.cancelled:
            return
        yield AudioChunk(msg.turn_id, samples=audio, sample_rate=sr, text=msg.text)

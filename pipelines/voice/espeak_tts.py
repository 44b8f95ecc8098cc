"""Base voice: espeak-ng in-process, from the ``espeakng-loader`` wheel.

The wheel ships ``libespeak-ng.so`` and its ``espeak-ng-data`` folder; we call
the C library through ctypes in synchronous mode (``espeak_Synth`` returns when
the whole text has been rendered into our callback), so no system espeak and no
subprocess are needed.  libespeak-ng keeps global state, so one process-wide
``EspeakLibrary`` serialises every call with a lock; synthesis is fast (a few
ms per sentence), so the lock is never held long.

Voice by text: Mandarin (``cmn``) when the sentence has a Chinese character,
English otherwise; ``settings.language`` forces one, ``voice.espeak.voice``
forces a voice name (any espeak voice, with a variant like ``cmn+f3``).
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..messages import AudioChunk, Message, Sentence
from ..optional import require
from ..settings import EspeakSettings
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv
from .text_normalize import has_cjk, normalize

# espeak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000  # without it a failed init calls exit(1)
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_ENDPAUSE = 0x1000
PARAM_RATE = 1
PARAM_VOLUME = 2
PARAM_PITCH = 3
EE_OK = 0

EVENT_LIST_TERMINATED = 0
EVENT_MSG_TERMINATED = 6
EVENT_PHONEME = 7
ESPEAK_INITIALIZE_PHONEME_EVENTS = 0x0001  # espeakEVENT_PHONEME events during synthesis (for visemes)


class _Event(ctypes.Structure):
    """espeak_EVENT (the union ``id`` as 8 bytes)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class EspeakError(RuntimeError):
    pass


class EspeakLibrary:
    """The process-wide libespeak-ng, initialised once; every call holds ``lock``."""

    _instance: "EspeakLibrary | None" = None
    _instance_lock = threading.Lock()

    #: held around every call into libespeak-ng (also by other users of the library, e.g. pyttsx3)
    lock = threading.RLock()

    @classmethod
    def get(cls) -> "EspeakLibrary":
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        loader = require("espeakng_loader", "espeakng-loader", "the espeak base voice")
        lib_path, self.data_path = loader.get_library_path(), loader.get_data_path()
        if not Path(lib_path).is_file():
            raise EspeakError(
                f"libespeak-ng not found at {lib_path}: reinstall the 'espeakng-loader' wheel "
                "(.venv/bin/pip install --force-reinstall espeakng-loader)"
            )
        # RTLD_GLOBAL: a later dlopen("libespeak-ng.so.1") by soname (pyttsx3's driver) finds this copy
        lib = ctypes.CDLL(lib_path, mode=ctypes.RTLD_GLOBAL)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        self.lib = lib
        self._chunks: list[np.ndarray] = []
        self._phonemes: list[tuple[float, str]] = []
        #: ((time_s, phoneme), ...) of the last ``synthesize`` call, from espeak's phoneme events
        self.last_phonemes: tuple = ()
        self._cancelled: Callable[[], bool] = lambda: False
        self._finished = threading.Event()
        #: True once another user (pyttsx3) re-initialised the library in asynchronous mode: then
        #: synthesis ends with an end-of-message event delivered from espeak's own thread
        self.asynchronous = False
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # keep a reference: C holds only the pointer
        self.sample_rate = self.initialize()

    def initialize(self) -> int:
        """(Re-)initialise libespeak-ng in synchronous mode; returns its sample rate.

        Called again after another user of the library (pyttsx3 starts it in
        asynchronous retrieval mode) so that every synthesis runs to its end
        inside ``espeak_Synth`` and no event of one caller reaches the next.
        """
        with self.lock:
            rate = self.lib.espeak_Initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                self.data_path.encode(),
                ESPEAK_INITIALIZE_DONT_EXIT | ESPEAK_INITIALIZE_PHONEME_EVENTS,
            )
        if rate <= 0:
            raise EspeakError(
                f"espeak-ng failed to initialise with data at {self.data_path} (reinstall the 'espeakng-loader' wheel)"
            )
        return int(rate)

    def _on_audio(self, wav, n, events) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        if events:
            i = 0
            while events[i].type != EVENT_LIST_TERMINATED:
                if events[i].type == EVENT_MSG_TERMINATED:
                    self._finished.set()
                elif events[i].type == EVENT_PHONEME:
                    ev = events[i]
                    name = ev.id.split(b"\0", 1)[0].decode("utf-8", "replace")
                    self._phonemes.append((ev.audio_position / 1000.0, name))
                i += 1
        return 1 if self._cancelled() else 0  # non-zero aborts the synthesis

    def voices(self) -> list[str]:
        """Voice names known to the data folder (language files, e.g. 'cmn', 'en-us')."""
        root = Path(self.data_path) / "lang"
        return sorted(p.name for p in root.rglob("*") if p.is_file())

    def check_voice(self, voice: str) -> None:
        with self.lock:
            ok = self.lib.espeak_SetVoiceByName(voice.encode()) == EE_OK
        if not ok:
            known = self.voices()
            hint = ", ".join(v for v in known if v in ("cmn", "en-us", "en", "yue", "ja")) or ", ".join(known[:10])
            raise EspeakError(
                f"espeak voice {voice!r} not found ({len(known)} voices, e.g. {hint}; "
                f"a variant is added as 'cmn+f3'). Fix settings voice.espeak.voice or the "
                f"persona's voice.espeak_voice_zh / espeak_voice_en."
            )

    def synthesize(
        self, text: str, voice: str, rate_wpm: int, pitch: int, cancelled: Callable[[], bool] = lambda: False
    ) -> np.ndarray:
        """int16 samples at ``sample_rate`` for ``text`` (empty if nothing is speakable or cancelled)."""
        data = text.encode("utf-8") + b"\0"
        with self.lock:
            lib = self.lib
            lib.espeak_SetSynthCallback(self._callback)  # another user of the library may have replaced it
            if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise EspeakError(f"espeak voice {voice!r} not found")
            lib.espeak_SetParameter(PARAM_RATE, int(np.clip(rate_wpm, 80, 450)), 0)
            lib.espeak_SetParameter(PARAM_PITCH, int(np.clip(pitch, 0, 99)), 0)
            lib.espeak_SetParameter(PARAM_VOLUME, 100, 0)
            self._chunks, self._cancelled, self._phonemes = [], cancelled, []
            self._finished.clear()
            try:
                err = lib.espeak_Synth(
                    data, len(data), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8 | ESPEAK_ENDPAUSE, None, None
                )
                lib.espeak_Synchronize()
                if self.asynchronous and err == EE_OK:
                    # wait for our end-of-message event, so it cannot reach the next caller's callback
                    self._finished.wait(timeout=0.5 if cancelled() else 30.0)
                chunks = self._chunks
                self.last_phonemes = tuple(self._phonemes)
            finally:
                self._chunks, self._cancelled = [], lambda: False
        if err != EE_OK and not cancelled():
            raise EspeakError(f"espeak_Synth failed with error code {err} for text {text[:40]!r}")
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


class EspeakTTS(Stage):
    """``tts`` backend ``espeak``: one ``AudioChunk`` (float32 mono, 22050 Hz) per ``Sentence``."""

    name = "tts"

    settings_section = "voice.espeak"

    def __init__(self, cfg: EspeakSettings, persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.engine: EspeakLibrary | None = None
        self.sample_rate = 22050
        self.last_phonemes: tuple = ()

    # -- voice choice ------------------------------------------------------
    def language_for(self, text: str) -> str:
        forced = self.env.language
        if forced in ("zh", "en"):
            return forced
        return "zh" if has_cjk(text) else "en"

    def voice_for(self, language: str) -> str:
        if self.cfg.voice:
            return self.cfg.voice
        v = self.persona.voice
        return v.espeak_voice_zh if language == "zh" else v.espeak_voice_en

    @property
    def rate_wpm(self) -> int:
        return self.cfg.rate or self.persona.voice.rate_wpm

    @property
    def pitch(self) -> int:
        p = self.cfg.pitch
        return p if p >= 0 else self.persona.voice.pitch

    # -- stage -------------------------------------------------------------
    def load(self) -> None:
        self.engine = EspeakLibrary.get()
        self.sample_rate = self.engine.sample_rate
        for lang in ("zh", "en"):
            self.engine.check_voice(self.voice_for(lang))
        normalize("2023年3月1日", "zh")  # imports cn2an now, not inside the first turn

    def synthesize(self, text: str, cancelled: Callable[[], bool] = lambda: False) -> np.ndarray:
        """float32 mono audio at ``sample_rate`` for ``text``, normalised for its language."""
        if self.engine is None:
            self.load()
        lang = self.language_for(text)
        spoken = normalize(text, lang)
        if not any(ch.isalnum() for ch in spoken):
            return np.zeros(0, dtype=np.float32)
        pcm = self.engine.synthesize(spoken, self.voice_for(lang), self.rate_wpm, self.pitch, cancelled)
        self.last_phonemes = self.engine.last_phonemes
        return pcm.astype(np.float32) / 32768.0

    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, Sentence):
            raise TypeError(f"tts expects Sentence messages, got {type(msg).__name__}")
        audio = self.synthesize(msg.text, lambda: ctx.cancelled)
        if len(audio) == 0 or ctx.cancelled:
            return  # nothing speakable (punctuation only), or interrupted (partial audio dropped)
        yield AudioChunk(
            msg.turn_id,
            samples=audio,
            sample_rate=self.sample_rate,
            text=msg.text,
            phonemes=self.last_phonemes,
        )

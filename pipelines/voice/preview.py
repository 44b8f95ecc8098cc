"""Hear a voice setting before saving it: a sample sentence through the real voice stages.

``preview_voice(settings)`` builds the text-to-speech and voice-conversion backends the
settings select (for the settings' persona), loads them, speaks one sentence through both,
exactly as a reply's sentence goes, and closes them.  The settings panel runs it on a
background thread with the form's unsaved values.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..messages import AudioChunk, Sentence
from ..persona import Persona
from ..registry import build_stage
from ..settings import Settings
from ..stage import TurnContext

SAMPLE_TEXT = {"zh": "你好，这是我现在的声音。", "en": "Hello, this is how I sound now."}


class PreviewCancelled(Exception):
    pass


def sample_text(settings: Settings, persona: Persona) -> str:
    lang = settings.language if settings.language in SAMPLE_TEXT else persona.language
    return SAMPLE_TEXT.get(lang, SAMPLE_TEXT["en"])


def preview_voice(
    settings: Settings, text: str | None = None, cancelled: Callable[[], bool] = lambda: False
) -> tuple[np.ndarray, int, str]:
    """(mono float32 samples, sample rate, the text spoken) of ``text`` in the settings' voice."""
    persona = Persona.load(settings.persona_dir)
    text = (text or sample_text(settings, persona)).strip()
    tts = build_stage("tts", settings, persona)
    vc = build_stage("vc", settings, persona)
    ctx = TurnContext(1, is_cancelled=cancelled)
    try:
        tts.load()
        vc.load()
        base = list(tts.process(Sentence(1, text), ctx)) + list(tts.end_turn(ctx))
        out: list[AudioChunk] = []
        for chunk in base:
            if cancelled():
                raise PreviewCancelled("voice preview cancelled")
            out += [m for m in vc.process(chunk, ctx) if isinstance(m, AudioChunk)]
        out += [m for m in vc.end_turn(ctx) if isinstance(m, AudioChunk)]
    finally:
        for stage in (tts, vc):
            try:
                stage.close()
            except Exception:
                pass
    if not out:
        raise RuntimeError(f"the voice ({tts.backend} → {vc.backend}) gave no audio for {text!r}")
    rate = out[0].sample_rate
    if any(c.sample_rate != rate for c in out):
        raise RuntimeError("the voice stages gave audio at different sample rates")
    return np.concatenate([c.samples for c in out]).astype(np.float32), rate, text

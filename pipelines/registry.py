"""Which class implements each stage backend (imported lazily, by name).

The one list of backends: the settings' choices (``backend_choices``), the CLI, the
settings panel and ``build_stage`` all read it.  This module imports nothing of the
project at load time, so ``settings.py`` can use it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .persona import Persona
    from .settings import Settings
    from .stage import Stage

#: (stage kind, backend) -> "module:Class"; each class is built from its own settings section
#: (``Class.settings_section``) and the ``StageEnv``: ``Class.from_settings(settings, persona)``
BACKENDS: dict[tuple[str, str], str] = {
    ("dialogue", "retrieval"): "pipelines.dialogue.retrieval:RetrievalDialogue",
    ("dialogue", "chatglm"): "pipelines.dialogue.chatglm_stage:ChatGLMDialogue",
    ("dialogue", "openai"): "pipelines.dialogue.openai_stage:OpenAIDialogue",
    ("tts", "espeak"): "pipelines.voice.espeak_tts:EspeakTTS",
    ("tts", "pyttsx3"): "pipelines.voice.pyttsx3_tts:Pyttsx3TTS",
    ("vc", "none"): "pipelines.voice.passthrough:NoConversion",
    ("vc", "world"): "pipelines.voice.world_vc:WorldConversion",
    ("vc", "sovits"): "pipelines.voice.sovits_vc:SovitsConversion",
    ("face", "warp"): "pipelines.face.warp.renderer:WarpRenderer",
    ("face", "wav2lip"): "pipelines.face.wav2lip.renderer:Wav2LipRenderer",
    ("face", "personal"): "pipelines.face.personal.renderer:PersonalRenderer",
}


def backend_choices(kind: str) -> tuple[str, ...]:
    """The backends of one stage kind, in registry order (the first is the default)."""
    return tuple(b for k, b in BACKENDS if k == kind)


def backend_name(settings: Settings, kind: str) -> str:
    return {
        "dialogue": settings.dialogue.backend,
        "tts": settings.voice.tts_backend,
        "vc": settings.voice.vc_backend,
        "face": settings.face.backend,
    }[kind]


def build_stage(kind: str, settings: Settings, persona: Persona) -> Stage:
    backend = backend_name(settings, kind)
    try:
        target = BACKENDS[(kind, backend)]
    except KeyError:
        known = sorted(b for k, b in BACKENDS if k == kind)
        raise ValueError(f"unknown {kind} backend {backend!r} (known: {', '.join(known)})") from None
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    stage = cls.from_settings(settings, persona)
    stage.backend = stage.backend or backend
    return stage

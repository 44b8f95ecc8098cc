"""What the status bar and the reply bubbles say, in words for the person using the app.

The engine names its backends ("dialogue retrieval", "vc world"); these functions turn them (and
the settings behind them) into what they mean: "Replying from the chat log", "Voice: espeak →
persona pitch", "Face: mouth animation of the portrait".  The technical names and the timings
stay available behind the status bar's Details toggle and in the tooltips.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.settings import Settings


def _folder(value: str) -> str:
    return Path(value).name or value


def _kind(backend: str) -> str:
    """The backend's registry name from what a stage calls itself ("warp (portrait)", "wav2lip/onnx ...")."""
    return backend.split(" ")[0].split("/")[0]


def _inner(backend: str) -> str:
    """What a loaded stage says in brackets: "chatglm (glm-6b, int8)" -> "glm-6b, int8"."""
    head, _, rest = backend.partition(" (")
    return rest[:-1] if rest.endswith(")") else ""


def plain_dialogue(backend: str, settings: Settings | None = None) -> str:
    kind = _kind(backend)
    if kind == "retrieval":
        return "Replying from the chat log"
    if kind == "chatglm":
        model = _inner(backend) or (_folder(settings.dialogue.chatglm.model_dir) if settings else "")
        return f"Replying with the local model {model}".rstrip()
    if kind == "openai":
        where = _inner(backend) or (settings.dialogue.openai.endpoint if settings else "")
        return f"Replying through the server {where}".rstrip()
    return f"Replying with {kind}"


def plain_voice(tts: str | None, vc: str | None) -> str:
    tts, vc = _kind(tts or ""), _kind(vc or "")
    base = {"espeak": "espeak", "pyttsx3": "the system voice"}.get(tts or "", tts or "")
    conv = {
        "world": "persona pitch",
        "sovits": "the persona's trained voice",
        "none": "as it is",
    }.get(vc or "", vc or "")
    if base and conv:
        return f"Voice: {base} → {conv}"
    return f"Voice: {base or conv}" if (base or conv) else ""


def plain_face(backend: str, settings: Settings | None = None) -> str:
    kind = _kind(backend)
    if kind == "warp":
        # the renderer says which: "warp (portrait)" or "warp (250-frame video)"
        video = "video" in backend or (backend == "warp" and bool(settings and settings.face.face))
        return "Face: mouth animation of the " + ("enrolled face" if video else "portrait")
    if kind == "wav2lip":
        return "Face: lip-sync model"
    return f"Face: {backend}"


def plain_backends(backends: dict[str, str], settings: Settings | None = None) -> str:
    """One line for the status bar from ``Engine.describe()`` (stage -> backend)."""
    parts = []
    if "dialogue" in backends:
        parts.append(plain_dialogue(backends["dialogue"], settings))
    voice = plain_voice(backends.get("tts"), backends.get("vc"))
    if voice:
        parts.append(voice)
    if "face" in backends:
        parts.append(plain_face(backends["face"], settings))
    return "  ·  ".join(parts)


#: what wrote a reply (``TurnRecord.mode``), for its bubble
MODES = {"retrieval": "from the chat log", "llm": "written by the model", "greeting": "greeting"}


def plain_mode(mode: str) -> str:
    return MODES.get(mode, mode)

"""A persona folder: who speaks, in what voice, with what face.

Layout (``source/<name>/``)::

    persona.json      name, system prompt, language, greeting, voice profile
    chat.jsonl        chat log in DL-B / THUDM JSON-lines format (prompt, response, history)
    portrait.png      a still face (used when no video is enrolled)
    avatar/           enrolled face cache written by ``python -m pipelines enroll`` (git-ignored)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .json_files import json_type as _json_type
from .json_files import read_json_object
from .paths import DEFAULT_PERSONA, SOURCE_DIR

log = logging.getLogger(__name__)
#: persona folders whose borrowed chat log has been logged already
_NOTED: set[str] = set()


class PersonaError(ValueError):
    pass


@dataclass
class VoiceProfile:
    """Target voice of the persona for the base TTS and the ``world`` converter."""

    f0_median_hz: float = 220.0  # target median pitch
    f0_spread: float = 1.0  # scale of pitch movement around the median (1: keep)
    formant_shift: float = 1.0  # spectral envelope warp (>1 brighter / smaller vocal tract)
    espeak_voice_zh: str = "cmn"
    espeak_voice_en: str = "en-us"
    rate_wpm: int = 165
    pitch: int = 50  # espeak base pitch 0-99


def _voice_profile(value, meta_path: Path) -> VoiceProfile:
    """``voice`` of persona.json checked key by key (type and name), as one clear line when wrong."""
    if not isinstance(value, dict):
        raise PersonaError(
            f"{meta_path}: 'voice' must be an object such as {{\"f0_median_hz\": 220}}, got a {_json_type(value)}"
        )
    defaults = VoiceProfile()
    known = list(vars(defaults))
    unknown = [k for k in value if k not in known]
    if unknown:
        raise PersonaError(f"{meta_path}: unknown key {unknown[0]!r} in 'voice'; known keys: {', '.join(known)}")
    for key, v in value.items():
        want = type(getattr(defaults, key))
        ok = (
            isinstance(v, str)
            if want is str
            else (isinstance(v, (int, float)) and not isinstance(v, bool) and (want is float or float(v).is_integer()))
        )
        if not ok:
            kind = "a string" if want is str else ("a whole number" if want is int else "a number")
            raise PersonaError(f"{meta_path}: voice.{key} must be {kind} such as {getattr(defaults, key)!r}, got {v!r}")
    return VoiceProfile(**{k: (type(getattr(defaults, k))(v)) for k, v in value.items()})


def _name_parts(display_name: str) -> tuple[str, str]:
    """(Chinese part, Latin part) of a display name such as "小林 Lin"."""
    cjk = "".join(ch for ch in display_name if "\u3400" <= ch <= "\u9fff").strip()
    latin = " ".join(w for w in display_name.split() if not any("\u3400" <= ch <= "\u9fff" for ch in w)).strip()
    return cjk, latin


def default_greeting(display_name: str, language: str) -> str:
    """What the persona says when the app starts, from its name and language ("你好，我是小林。")."""
    cjk, latin = _name_parts(display_name)
    if language == "zh":
        return f"你好，我是{cjk or latin or display_name}。"
    return f"Hi, I'm {latin or cjk or display_name}."


@dataclass
class Persona:
    root: Path
    name: str
    display_name: str
    system_prompt: str
    language: str = "zh"
    chat_log: Path | None = None
    portrait: Path | None = None
    voice: VoiceProfile = field(default_factory=VoiceProfile)
    #: said when the app starts ("" in persona.json: say nothing)
    greeting: str = ""
    #: what this persona borrows from source/default, in words (a persona made by enrollment
    #: has a face but no chat log yet)
    notes: list[str] = field(default_factory=list)

    @property
    def avatar_dir(self) -> Path:
        return self.root / "avatar"

    @classmethod
    def load(cls, root: str | Path) -> Persona:
        root = Path(root)
        meta_path = root / "persona.json"
        if not meta_path.is_file():
            raise PersonaError(
                f"{root}: not a persona folder (no persona.json). "
                f"Point 'persona' in the settings at a folder like source/default."
            )
        meta = read_json_object(meta_path, PersonaError, example="source/default/persona.json")
        voice = _voice_profile(meta.get("voice", {}), meta_path)
        for key in ("name", "display_name", "system_prompt", "language", "chat_log", "portrait", "greeting"):
            if key in meta and not isinstance(meta[key], str):
                raise PersonaError(
                    f"{meta_path}: '{key}' must be a string, got {type(meta[key]).__name__} "
                    f"{meta[key]!r}: put it in quotes"
                )
        chat = root / meta.get("chat_log", "chat.jsonl")
        portrait = root / meta.get("portrait", "portrait.png")
        notes = []
        default_chat = DEFAULT_PERSONA / "chat.jsonl"
        if not chat.exists() and "chat_log" not in meta and default_chat.is_file() and root != DEFAULT_PERSONA:
            notes.append(
                f"{root.name} has no chat log of its own ({chat.name}): it replies from the default persona's "
                f"({default_chat}); put a chat.jsonl in {root} to give it its own"
            )
            if str(root.resolve()) not in _NOTED:  # once per folder and process (the picker reloads them)
                _NOTED.add(str(root.resolve()))
                log.warning("%s", notes[-1])
            chat = default_chat
        display_name = meta.get("display_name", meta.get("name", root.name))
        language = meta.get("language", "zh")
        return cls(
            root=root,
            name=meta.get("name", root.name),
            display_name=display_name,
            system_prompt=meta.get("system_prompt", ""),
            language=language,
            chat_log=chat if chat.exists() else None,
            portrait=portrait if portrait.exists() else None,
            voice=voice,
            greeting=meta.get("greeting", default_greeting(display_name, language)).strip(),
            notes=notes,
        )


def list_personas(folder: str | Path = SOURCE_DIR) -> list[Persona]:
    """The personas in ``folder`` (each sub-folder with a persona.json), by name; a folder whose
    persona.json is broken is left out with a warning (one line), never raised."""
    out = []
    base = Path(folder)
    for sub in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        if not (sub / "persona.json").is_file():
            continue
        try:
            out.append(Persona.load(sub))
        except PersonaError as exc:
            log.warning("persona %s left out: %s", sub.name, exc)
    return out

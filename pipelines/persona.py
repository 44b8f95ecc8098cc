"""A persona folder: who speaks, in what voice, with what face.

Layout (``source/<name>/``)::

    persona.json      name, system prompt, language, voice profile
    chat.jsonl        chat log in DL-B / THUDM JSON-lines format (prompt, response, history)
    portrait.png      a still face (used when no video is enrolled)
    avatar/           enrolled face cache written by ``python -m pipelines enroll`` (git-ignored)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class PersonaError(ValueError):
    pass


@dataclass
class VoiceProfile:
    """Target voice of the persona for the base TTS and the ``world`` converter."""
    f0_median_hz: float = 220.0      # target median pitch
    f0_spread: float = 1.0           # scale of pitch movement around the median (1: keep)
    formant_shift: float = 1.0       # spectral envelope warp (>1 brighter / smaller vocal tract)
    espeak_voice_zh: str = "cmn"
    espeak_voice_en: str = "en-us"
    rate_wpm: int = 165
    pitch: int = 50                  # espeak base pitch 0-99


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

    @property
    def avatar_dir(self) -> Path:
        return self.root / "avatar"

    @classmethod
    def load(cls, root: str | Path) -> "Persona":
        root = Path(root)
        meta_path = root / "persona.json"
        if not meta_path.is_file():
            raise PersonaError(f"{root}: not a persona folder (no persona.json). "
                               f"Point 'persona' in the settings at a folder like source/default.")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PersonaError(f"{meta_path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        voice = VoiceProfile(**meta.get("voice", {}))
        chat = root / meta.get("chat_log", "chat.jsonl")
        portrait = root / meta.get("portrait", "portrait.png")
        return cls(
            root=root,
            name=meta.get("name", root.name),
            display_name=meta.get("display_name", meta.get("name", root.name)),
            system_prompt=meta.get("system_prompt", ""),
            language=meta.get("language", "zh"),
            chat_log=chat if chat.exists() else None,
            portrait=portrait if portrait.exists() else None,
            voice=voice,
        )

"""Make a new persona folder ``source/<name>/`` from a name, an optional chat log, a voice pitch
and a face (a portrait image or 5-10 s clips, through the enrollment code).

Everything is checked and the face is built before anything is written; the folder is then
filled under a temporary name and renamed into place (``atomic_dir``), so a failure leaves
nothing half-made.  An existing persona (``source/default`` above all) is never touched: a name
that is taken is refused.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

from .atomic_files import atomic_dir
from .paths import DEFAULT_PERSONA, SOURCE_DIR
from .persona import Persona, PersonaError, VoiceProfile, default_greeting

#: below this median pitch the base voice is espeak's plain (lower) one, above it the +f3 variant
LOW_VOICE_HZ = 165.0
PITCH_RANGE_HZ = (60.0, 400.0)

Progress = Callable[[str, float], None]


class PersonaCreateError(ValueError):
    pass


def voice_for_pitch(f0_median_hz: float, base: VoiceProfile | None = None) -> VoiceProfile:
    """The default persona's voice moved to ``f0_median_hz``: the WORLD converter's target pitch,
    and an espeak base voice and pitch near it (so the conversion has less to do)."""
    lo, hi = PITCH_RANGE_HZ
    if not lo <= f0_median_hz <= hi:
        raise PersonaCreateError(f"voice pitch {f0_median_hz:g} Hz: choose between {lo:g} and {hi:g} Hz")
    base = base or VoiceProfile()
    low = f0_median_hz < LOW_VOICE_HZ
    zh, en = base.espeak_voice_zh.split("+")[0], base.espeak_voice_en.split("+")[0]
    return VoiceProfile(
        **{
            **asdict(base),
            "f0_median_hz": float(f0_median_hz),
            "espeak_voice_zh": zh if low else f"{zh}+f3",
            "espeak_voice_en": en if low else f"{en}+f3",
            "pitch": int(max(0, min(99, round((f0_median_hz - lo) / (hi - lo) * 99)))),
            "formant_shift": 1.0 if low else base.formant_shift,
        }
    )


def create_persona(
    name: str,
    *,
    display_name: str = "",
    language: str = "zh",
    chat_log: str | Path | None = None,
    f0_median_hz: float = 210.0,
    face: Sequence[str | Path] = (),
    personas_dir: str | Path = SOURCE_DIR,
    progress: Progress | None = None,
    enroll_options: dict | None = None,
) -> Path:
    """Write ``personas_dir/<name>/`` (persona.json, chat.jsonl, portrait, avatar/); returns it.

    ``face``: one portrait image or 5-10 s clips (``build_avatar``); ``enroll_options``: its
    pads / box / nosmooth / max_side.  Raises ``PersonaCreateError`` (one line) and writes
    nothing when anything is wrong."""
    from .dialogue.chat_data import ChatDataError, load_chat_log
    from .face.avatar.enroll import EnrollmentError, build_avatar, persona_folder
    from .face.avatar.storage import save_avatar
    from .face.avatar.video_io import is_image

    name = (name or "").strip()
    try:
        folder = persona_folder(name, personas_dir)
    except EnrollmentError as exc:
        raise PersonaCreateError(str(exc)) from None
    if Path(folder).parent.resolve() != Path(personas_dir).resolve():
        raise PersonaCreateError(f"{name!r}: give a new persona's name, not an existing folder")
    if folder.exists() or folder.resolve() == DEFAULT_PERSONA.resolve():
        raise PersonaCreateError(f"a persona called {name!r} already exists ({folder}): choose another name")
    if language not in ("zh", "en"):
        raise PersonaCreateError(f"language must be 'zh' or 'en', got {language!r}")
    voice = voice_for_pitch(f0_median_hz, Persona.load(DEFAULT_PERSONA).voice)
    chat_text = None
    if chat_log:
        try:
            _, report = load_chat_log(chat_log)
        except ChatDataError as exc:
            raise PersonaCreateError(str(exc)) from None
        chat_text = Path(chat_log).read_bytes()
    faces = [Path(f) for f in face]
    if not faces:
        raise PersonaCreateError("give a face: a portrait image, or 5-10 s video clips of the face")
    try:
        avatar, face_report = build_avatar(faces, progress, **(enroll_options or {}))
    except EnrollmentError as exc:
        raise PersonaCreateError(str(exc)) from None
    shown = display_name.strip() or name
    meta = {
        "name": name,
        "display_name": shown,
        "language": language,
        "greeting": default_greeting(shown, language),
        "system_prompt": (
            f"你是{shown}，一个友好、简洁的数字人。"
            if language == "zh"
            else f"You are {shown}, a friendly, concise persona."
        ),
        "voice": asdict(voice),
    }
    if progress:
        progress(f"saving {folder}", 0.99)
    with atomic_dir(folder) as tmp:
        if chat_text is not None:
            (tmp / "chat.jsonl").write_bytes(chat_text)
            meta["chat_log"] = "chat.jsonl"
        if len(faces) == 1 and is_image(faces[0]):
            portrait = "portrait" + faces[0].suffix.lower()
            shutil.copyfile(faces[0], tmp / portrait)
            meta["portrait"] = portrait
        (tmp / "persona.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        save_avatar(avatar, tmp / "avatar", dict(face_report, avatar_dir=str(folder / "avatar")))
    try:
        Persona.load(folder)
    except PersonaError as exc:  # cannot happen with what was written above; said plainly if it does
        raise PersonaCreateError(f"the new persona does not load: {exc}") from None
    if progress:
        progress("done", 1.0)
    return folder

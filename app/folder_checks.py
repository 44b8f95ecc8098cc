"""What a chosen model folder or file holds, or why it cannot be used (no Qt here).

The settings panel calls ``check_field(name, value, settings)`` as soon as a
path is chosen and shows the answer under the field.  Checks only look at the
files (names, sizes, small JSON files); nothing heavy is loaded, so they are
instant.  Where a backend ships its own finder (so-vits, ContentVec, avatars)
its error message is used, so the panel and the engine say the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipelines.settings import Settings


@dataclass(frozen=True)
class Check:
    ok: bool | None  # True usable, False not usable, None not set / nothing to say
    message: str


def _size(p: Path) -> str:
    n = p.stat().st_size
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _names(paths, limit: int = 4) -> str:
    names = [p.name for p in paths]
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit})" if len(names) > limit else "")


WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "model*.bin", "*.pt", "*.pth")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "ice_text.model",
    "tokenizer_config.json",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
)


def check_llm_folder(p: Path, settings: Settings) -> Check:
    if not p.is_dir():
        return Check(False, f"not a folder: {p}")
    cfg = p / "config.json"
    if not cfg.is_file():
        return Check(False, "no config.json: choose the model folder itself (e.g. module/chatglm-6b)")
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Check(False, f"config.json is not valid JSON ({exc})")
    weights = sorted({w for g in WEIGHT_GLOBS for w in p.glob(g)})
    if not weights:
        return Check(False, "config.json found but no weights (*.safetensors or pytorch_model*.bin)")
    tok = [t for t in TOKENIZER_FILES if (p / t).is_file()]
    if not tok:
        return Check(False, "weights found but no tokenizer files (tokenizer.json / tokenizer.model / ice_text.model)")
    kind = config.get("model_type") or ",".join(config.get("architectures", []) or ["?"])
    total = sum(w.stat().st_size for w in weights) / 2**30
    msg = f"{kind} model: {len(weights)} weight file(s), {total:.2f} GB; tokenizer {tok[0]}"
    if config.get("auto_map") and not settings.dialogue.chatglm.trust_remote_code:
        msg += " — needs its own code: tick dialogue.chatglm.trust_remote_code"
    return Check(True, msg)


def check_ptuning(p: Path, settings: Settings) -> Check:
    if not p.is_dir():
        return Check(False, f"not a folder: {p}")
    if (p / "adapter_config.json").is_file():
        return Check(True, "peft adapter (adapter_config.json)")
    for name in ("pytorch_model.bin", "model.safetensors", "prefix_encoder.safetensors"):
        if (p / name).is_file():
            return Check(True, f"P-tuning checkpoint: {name} ({_size(p / name)})")
    subs = sorted(
        (d for d in p.glob("checkpoint-*") if d.is_dir()),
        key=lambda d: int(d.name.split("-")[-1]) if d.name.split("-")[-1].isdigit() else -1,
    )
    if subs:
        inner = check_ptuning(subs[-1], settings)
        if inner.ok:
            return Check(True, f"{len(subs)} checkpoint(s); newest {subs[-1].name}: {inner.message}")
    return Check(
        False,
        "no P-tuning checkpoint here (pytorch_model.bin / model.safetensors with the prefix "
        "encoder, or adapter_config.json); run fine-tuning first",
    )


def check_sovits(p: Path, settings: Settings) -> Check:
    try:
        from pipelines.voice.sovits_loader import SovitsModelError, find_model
    except ImportError:
        ckpts = sorted(p.glob("G_*.pth"))
        if not ckpts or not (p / "config.json").is_file():
            return Check(False, "needs G_*.pth + config.json")
        return Check(True, f"generator {ckpts[-1].name}")
    try:
        files = find_model(p, settings.voice.sovits.checkpoint, settings.voice.sovits.cluster_model)
    except SovitsModelError as exc:
        return Check(False, str(exc))
    speakers = ""
    try:
        cfg = json.loads(files.config.read_text(encoding="utf-8"))
        spk = cfg.get("spk") or {}
        speakers = f"; speakers: {', '.join(list(spk)[:5])}" if spk else ""
    except Exception:
        pass
    extra = f"; cluster {files.cluster.name}" if files.cluster else ""
    return Check(
        True, f"generator {files.checkpoint.name} ({_size(files.checkpoint)}), {files.config.name}{speakers}{extra}"
    )


def check_contentvec(p: Path, settings: Settings) -> Check:
    try:
        from pipelines.voice.contentvec import ContentVecError, resolve_contentvec
    except ImportError:
        return Check(p.exists(), "exists" if p.exists() else f"not found: {p}")
    try:
        kind, found = resolve_contentvec(p)
    except ContentVecError as exc:
        return Check(False, str(exc))
    label = "Hugging Face HuBERT folder" if kind == "hf" else "fairseq checkpoint"
    return Check(True, f"{label}: {found.name}" + (f" ({_size(found)})" if found.is_file() else ""))


def check_cluster(p: Path, settings: Settings) -> Check:
    if not p.is_file():
        return Check(False, f"file not found: {p}")
    if p.suffix not in (".pt", ".pth", ".pkl"):
        return Check(False, f"{p.name}: expected a kmeans .pt file")
    return Check(True, f"cluster model {p.name} ({_size(p)})")


def check_wav2lip(p: Path, settings: Settings) -> Check:
    if not p.is_file():
        return Check(False, f"file not found: {p}")
    if p.suffix == ".onnx":
        return Check(True, f"exported ONNX model ({_size(p)}); runs with onnxruntime")
    if p.suffix in (".pth", ".pt", ".tar"):
        if p.stat().st_size < 1_000_000:
            return Check(False, f"{p.name} is only {_size(p)}: not a Wav2Lip generator (about 140 MB)")
        return Check(True, f"PyTorch checkpoint ({_size(p)})")
    return Check(False, f"{p.name}: expected a Wav2Lip .pth checkpoint or an exported .onnx model")


def check_avatar(p: Path, settings: Settings) -> Check:
    if not p.is_dir():
        return Check(False, f"not a folder: {p}")
    if (p / "avatar" / "meta.json").is_file():
        p = p / "avatar"  # a persona folder was chosen: use its enrolled face
    try:
        from pipelines.face.avatar.storage import AvatarError, read_avatar, read_report
    except ImportError:
        return Check(
            (p / "meta.json").is_file(),
            "enrolled avatar" if (p / "meta.json").is_file() else "not an enrolled avatar (no meta.json)",
        )
    try:
        av = read_avatar(p)
    except AvatarError as exc:
        return Check(False, str(exc))
    report = read_report(p)
    h, w = av.frames.shape[1:3]
    kind = report.get("kind", "avatar")
    return Check(True, f"enrolled {kind}: {len(av)} frame(s) {w}×{h} at {av.fps:g} fps ({av.source})")


def check_persona(p: Path, settings: Settings) -> Check:
    from pipelines.persona import Persona, PersonaError

    try:
        persona = Persona.load(p)
    except PersonaError as exc:
        return Check(False, str(exc))
    parts = [f"persona '{persona.display_name}'"]
    if persona.chat_log:
        n = sum(1 for line in persona.chat_log.read_text(encoding="utf-8").splitlines() if line.strip())
        parts.append(f"chat log {n} line(s)")
    else:
        parts.append("no chat log (the retrieval backend needs one)")
    if (persona.avatar_dir / "meta.json").is_file():
        parts.append("enrolled face")
    elif persona.portrait:
        parts.append("portrait")
    else:
        return Check(False, ", ".join(parts) + ", but no face: add portrait.png or enroll clips")
    return Check(True, ", ".join(parts))


def check_output(p: Path, settings: Settings) -> Check:
    import os

    probe = p
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return Check(False, f"{probe} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        return Check(False, f"cannot write in {probe}")
    return Check(True, "writable" if p.exists() else "will be created")


CHECKS: dict[str, Callable[[Path, Settings], Check]] = {
    "persona": check_persona,
    "output_dir": check_output,
    "dialogue.chatglm.model_dir": check_llm_folder,
    "dialogue.chatglm.ptuning_dir": check_ptuning,
    "voice.sovits.model_dir": check_sovits,
    "voice.sovits.contentvec_dir": check_contentvec,
    "voice.sovits.cluster_model": check_cluster,
    "face.wav2lip.checkpoint": check_wav2lip,
    "face.face": check_avatar,
}

#: why an empty value is fine (or not)
EMPTY = {
    "dialogue.chatglm.model_dir": "not set (needed by the chatglm backend)",
    "dialogue.chatglm.ptuning_dir": "not set: the base model without P-tuning",
    "voice.sovits.model_dir": "not set (needed by the sovits voice conversion)",
    "voice.sovits.contentvec_dir": "not set (needed by the sovits voice conversion)",
    "voice.sovits.cluster_model": "not set: no cluster model",
    "face.wav2lip.checkpoint": "not set (needed by the wav2lip renderer)",
    "face.face": "not set: the persona's own face",
}


def check_field(name: str, value: str, settings: Settings) -> Check:
    """What the path in setting ``name`` holds, or why it is unusable."""
    if not str(value).strip():
        return Check(None if name in EMPTY else False, EMPTY.get(name, "must not be empty"))
    fn = CHECKS.get(name)
    path = settings.resolve(str(value).strip())
    if fn is None:
        return Check(path.exists(), "exists" if path.exists() else f"not found: {path}")
    if not path.exists() and name != "output_dir":
        return Check(False, f"not found: {path}")
    try:
        return fn(path, settings)
    except Exception as exc:  # a check must never take the panel down
        return Check(False, f"could not check {path}: {type(exc).__name__}: {exc}")

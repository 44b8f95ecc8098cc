"""Personal lip-sync weights on disk: safetensors with the network's config in the metadata.

A training run's folder (``module/lipsync/<persona>``)::

    checkpoint-<epoch>/   model.safetensors + optimizer.pt + trainer_state.json
    best/                 copy of the checkpoint with the lowest validation loss
    personal.safetensors  the best weights, published: what ``face.personal.checkpoint`` points at
    data.json             the data report (clips, usable seconds, held-out frames)
    loss.jsonl, loss.png  train and validation loss

Every file and folder is written under a temporary name and renamed, so a kill
leaves the old or the new one, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.atomic_files import atomic_dir, atomic_path
from pipelines.optional import require

MODEL_FILE = "model.safetensors"
OPTIMIZER = "optimizer.pt"
TRAINER_STATE = "trainer_state.json"
PUBLISHED = "personal.safetensors"
KIND = "personal-lipsync"


def save_weights(model, path: str | Path, extra: dict | None = None) -> Path:
    st = require("safetensors.torch", "safetensors", "saving the lip-sync model")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"kind": KIND, "config": json.dumps(model.config.to_dict()), **{k: str(v) for k, v in (extra or {}).items()}}
    with atomic_path(path, suffix=".tmp.safetensors") as tmp:
        st.save_file(state, str(tmp), metadata=meta)
    return Path(path)


def read_config(path: str | Path) -> dict:
    require("safetensors", "safetensors", "reading the lip-sync model")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("kind") != KIND or "config" not in meta:
        raise ValueError(f"{path}: not a personal lip-sync model (train one with 'python -m pipelines lipsync-train')")
    return json.loads(meta["config"])


def load_weights(path: str | Path, device: str = "cpu"):
    """The ``PersonalUNet`` stored in ``path`` (eval mode)."""
    from pipelines.face.personal.model import PersonalConfig, PersonalUNet

    st = require("safetensors.torch", "safetensors", "reading the lip-sync model")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: personal lip-sync model not found; train one with "
            f"'python -m pipelines lipsync-train --persona NAME clip.mp4'"
        )
    model = PersonalUNet(PersonalConfig(**read_config(p)))
    model.load_state_dict(st.load_file(str(p), device="cpu"))
    return model.to(device).eval()


def write_checkpoint(out: Path, epoch: int, model, optimizer, state: dict) -> Path:
    torch = require("torch")
    final = Path(out) / f"checkpoint-{epoch}"
    with atomic_dir(final) as tmp:
        save_weights(model, tmp / MODEL_FILE)
        torch.save(optimizer.state_dict(), tmp / OPTIMIZER)
        (tmp / TRAINER_STATE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    return final


def read_checkpoint(ckpt: Path, model, optimizer) -> dict:
    """Load weights and optimizer state of ``ckpt`` into ``model`` / ``optimizer``; returns its trainer state."""
    torch = require("torch")
    st = require("safetensors.torch", "safetensors", "reading checkpoints")
    cfg = read_config(ckpt / MODEL_FILE)
    if cfg != model.config.to_dict():
        raise ValueError(
            f"{ckpt}: checkpoint of a model with {cfg}, this run builds {model.config.to_dict()}; "
            f"use the same --width/--crop or a new --out folder"
        )
    model.load_state_dict(st.load_file(str(ckpt / MODEL_FILE), device=str(next(model.parameters()).device)))
    optimizer.load_state_dict(torch.load(ckpt / OPTIMIZER, map_location="cpu", weights_only=True))
    return json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8"))

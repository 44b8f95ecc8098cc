"""Checkpoints of a P-tuning run: written atomically, the best kept, resumable.

Layout of an output folder (``module/ptuning/<name>``)::

    checkpoint-<step>/      adapter (loadable) + trainable.safetensors + optimizer.pt + trainer_state.json
    best/                   copy of the best checkpoint so far
    adapter_config.json     \\  the best adapter, published at the end: the folder itself
    adapter_model.safetensors   loads in the chatglm backend (THUDM bases: pytorch_model.bin with only
                                transformer.prefix_encoder.* + config.json with pre_seq_len, as THUDM's ptuning writes)
    finetune.json           what was trained on what, prompt format, system prompt, losses
    loss.jsonl, loss.png    loss log and plot

Every folder is first written under a hidden temporary name in the same
folder and then renamed, so a kill leaves either the old or the new checkpoint,
never half of one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..atomic_files import atomic_dir, atomic_path, atomic_write_text
from ..optional import require
from .ptuning_checkpoint import FINETUNE_META, THUDM_PREFIX

TRAINER_STATE = "trainer_state.json"
TRAINABLE = "trainable.safetensors"
OPTIMIZER = "optimizer.pt"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "pytorch_model.bin", "config.json")


class PrefixAdapter:
    """The trainable prefix of a model, however it is attached (peft or THUDM's own encoder)."""

    def __init__(self, model, kind: str, base_config: dict | None = None) -> None:
        self.model = model
        self.kind = kind  # "peft" or "thudm"
        self.base_config = base_config or {}

    def named_trainable(self) -> dict[str, Any]:
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def trainable_state(self) -> dict[str, Any]:
        return {n: p.detach().cpu().contiguous().clone() for n, p in self.named_trainable().items()}

    def load_trainable_state(self, state: dict[str, Any]) -> None:
        params = self.named_trainable()
        missing = sorted(set(params) - set(state))
        if missing:
            raise ValueError(
                f"checkpoint lacks trainable parameters {missing[:3]}: it belongs to another run "
                f"(different --pre-seq-len / --prefix-projection?)"
            )
        torch = require("torch")
        with torch.no_grad():
            for name, p in params.items():
                if tuple(state[name].shape) != tuple(p.shape):
                    raise ValueError(
                        f"checkpoint parameter {name} has shape {tuple(state[name].shape)}, "
                        f"this run needs {tuple(p.shape)} (different --pre-seq-len?)"
                    )
                p.copy_(state[name].to(p.device, p.dtype))

    def save_adapter(self, folder: Path) -> None:
        """Files the chatglm backend loads: a peft adapter, or THUDM's prefix_encoder state dict."""
        if self.kind == "peft":
            self.model.save_pretrained(str(folder))
            (folder / "README.md").unlink(missing_ok=True)
            if self.base_config.get("model_type") == "chatglm":
                self._save_thudm_flat(folder)
        else:  # THUDM ptuning/main.py's output: only the prefix encoder, in pytorch_model.bin
            torch = require("torch")
            enc = self.model.transformer.prefix_encoder
            state = {THUDM_PREFIX + k: v.detach().cpu().contiguous().clone() for k, v in enc.state_dict().items()}
            torch.save(state, folder / "pytorch_model.bin")
            pre_seq_len = int(state[THUDM_PREFIX + "embedding.weight"].shape[0])
            config = {
                **self.base_config,
                "pre_seq_len": pre_seq_len,
                "prefix_projection": THUDM_PREFIX + "trans.0.weight" in state,
            }
            (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

    def _save_thudm_flat(self, folder: Path) -> None:
        """For a THUDM ChatGLM2/3 base, also THUDM's layout: the prefix as computed (no projection)."""
        torch = require("torch")
        enc = self.model.prompt_encoder["default"]
        with torch.no_grad():
            tokens = torch.arange(enc.embedding.num_embeddings, device=enc.embedding.weight.device)
            flat = enc(tokens[None])[0].float().cpu().contiguous()
        torch.save({THUDM_PREFIX + "embedding.weight": flat}, folder / "pytorch_model.bin")
        config = {**self.base_config, "pre_seq_len": int(flat.shape[0]), "prefix_projection": False}
        (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def checkpoint_step(p: Path) -> int:
    m = re.fullmatch(r"checkpoint-(\d+)", p.name)
    return int(m.group(1)) if m else -1


def list_checkpoints(out: Path) -> list[Path]:
    if not out.is_dir():
        return []
    found = [c for c in out.iterdir() if c.is_dir() and checkpoint_step(c) >= 0 and (c / TRAINER_STATE).is_file()]
    return sorted(found, key=checkpoint_step)


def write_checkpoint(
    out: Path, step: int, adapter: PrefixAdapter, optimizer, scheduler, trainer_state: dict, meta: dict
) -> Path:
    torch = require("torch")
    st = require("safetensors.torch", "safetensors", "writing checkpoints")
    final = out / f"checkpoint-{step}"
    with atomic_dir(final) as tmp:
        adapter.save_adapter(tmp)
        st.save_file(adapter.trainable_state(), str(tmp / TRAINABLE))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / OPTIMIZER)
        (tmp / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=2), encoding="utf-8")
        (tmp / FINETUNE_META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return final


def read_checkpoint(ckpt: Path) -> tuple[dict, dict, dict]:
    """(trainable tensors, optimizer+scheduler state, trainer state) of a checkpoint folder."""
    torch = require("torch")
    st = require("safetensors.torch", "safetensors", "reading checkpoints")
    trainable = st.load_file(str(ckpt / TRAINABLE))
    opt = torch.load(ckpt / OPTIMIZER, map_location="cpu", weights_only=True)
    state = json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8"))
    return trainable, opt, state


def keep_best(out: Path, ckpt: Path) -> Path:
    """Copy ``ckpt`` to ``out/best`` (atomically)."""
    with atomic_dir(out / "best") as tmp:
        shutil.copytree(ckpt, tmp, dirs_exist_ok=True)
    return out / "best"


def prune(out: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` checkpoint-N folders (``best`` is separate and stays)."""
    ckpts = list_checkpoints(out)
    for old in ckpts[: -max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)


def publish(out: Path, ckpt: Path, meta: dict) -> None:
    """Make ``out`` itself a loadable adapter folder holding ``ckpt``'s adapter (file by file, atomically)."""
    for name in ADAPTER_FILES:
        src = ckpt / name
        if not src.is_file():
            continue
        with atomic_path(out / name) as tmp:
            shutil.copy2(src, tmp)
    atomic_write_text(out / FINETUNE_META, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")

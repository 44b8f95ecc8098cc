"""Does a peft adapter folder (LoRA or prefix tuning) belong to this base model?  Checked before peft loads it.

peft itself either fails with a page of ``size mismatch`` lines or, worse, loads an
adapter made for a model with fewer layers without a word (the extra layers just stay
untouched).  Here the adapter's tensors are compared with the model's modules: every
adapted module must exist with the same input/output sizes, and every layer of the
model that has a targeted module must be covered.  The result is one line saying what
does not fit, which base the adapter names, and what to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..optional import require

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_LAYER = re.compile(r"\.layers\.(\d+)\.")


class AdapterMismatch(ValueError):
    """An adapter trained for another base model."""


def _adapter_state(folder: Path) -> dict:
    torch = require("torch", purpose="peft adapters")
    for name in ADAPTER_WEIGHTS:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    return {}


def _module_name(key: str) -> str | None:
    """``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`` -> ``model.layers.0.self_attn.q_proj``."""
    if ".lora_A." not in key and ".lora_B." not in key:
        return None
    name = key.split(".lora_A.")[0].split(".lora_B.")[0]
    return name[len("base_model.model.") :] if name.startswith("base_model.model.") else name


def _advice(folder: Path, acfg: dict, detail: str) -> str:
    base = acfg.get("base_model_name_or_path") or "unknown"
    return (
        f"peft adapter {folder} was made for another base model ({base}): {detail}; set dialogue.chatglm.model_dir "
        f"to the model it was trained on, or train one for this model (python -m pipelines finetune --base "
        f"<this model>)"
    )


def _lora_problem(model, folder: Path, acfg: dict) -> str | None:
    state = _adapter_state(folder)
    if not state:
        return None  # peft reports a missing weights file itself
    modules = dict(model.named_modules())
    seen: dict[str, dict[str, tuple]] = {}
    for key, t in state.items():
        name = _module_name(key)
        if name is None:
            continue
        seen.setdefault(name, {})["A" if ".lora_A." in key else "B"] = tuple(t.shape)
    for name, shapes in sorted(seen.items()):
        mod = modules.get(name)
        if mod is None:
            layer = _LAYER.search("." + name + ".")
            if layer is not None:
                have = 1 + max((int(m.group(1)) for n in modules if (m := _LAYER.search(n + "."))), default=-1)
                return _advice(folder, acfg, f"it adapts layer {layer.group(1)} but this model has {have} layers")
            return _advice(folder, acfg, f"it adapts {name}, which this model does not have")
        n_in = getattr(mod, "in_features", None)
        n_out = getattr(mod, "out_features", None)
        a, b = shapes.get("A"), shapes.get("B")
        if (a and n_in is not None and a[-1] != n_in) or (b and n_out is not None and b[0] != n_out):
            return _advice(
                folder,
                acfg,
                f"its {name} maps {a[-1] if a else '?'} -> {b[0] if b else '?'} features, "
                f"this model's maps {n_in} -> {n_out}",
            )
    targets = acfg.get("target_modules") or []
    if isinstance(targets, str):
        return None  # a regular expression: leave the matching to peft
    wanted = {n for n, m in modules.items() if n.rsplit(".", 1)[-1] in targets and hasattr(m, "in_features")}
    layers_model = {int(m.group(1)) for n in wanted if (m := _LAYER.search(n + "."))}
    layers_adapter = {int(m.group(1)) for n in seen if (m := _LAYER.search(n + "."))}
    if layers_adapter and not (acfg.get("layers_to_transform") or acfg.get("layer_replication")):
        if layers_model - layers_adapter:
            return _advice(
                folder,
                acfg,
                f"it covers {len(layers_adapter)} layers but this model has {len(layers_model)}",
            )
    return None


def _prefix_problem(model, folder: Path, acfg: dict) -> str | None:
    cfg = getattr(model, "config", None)
    if cfg is None:
        return None
    layers = getattr(cfg, "num_hidden_layers", None)
    heads = getattr(cfg, "num_key_value_heads", None) or getattr(cfg, "num_attention_heads", None)
    head_dim = getattr(cfg, "head_dim", None) or (
        cfg.hidden_size // cfg.num_attention_heads if getattr(cfg, "hidden_size", None) else None
    )
    if acfg.get("num_layers") and layers and int(acfg["num_layers"]) != int(layers):
        return _advice(folder, acfg, f"its prefix has {acfg['num_layers']} layers, this model has {layers}")
    if acfg.get("token_dim") and heads and head_dim and int(acfg["token_dim"]) != int(heads) * int(head_dim):
        return _advice(
            folder,
            acfg,
            f"its prefix has {acfg['token_dim']} numbers per layer and token, this model's keys have "
            f"{heads} heads x {head_dim} = {heads * head_dim}",
        )
    return None


def adapter_problem(model, folder: Path) -> str | None:
    """One line if the peft adapter in ``folder`` does not fit ``model``, else None."""
    try:
        acfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # the loader reports a bad adapter_config.json itself
    kind = str(acfg.get("peft_type", "")).upper()
    if kind == "LORA":
        return _lora_problem(model, folder, acfg)
    if kind == "PREFIX_TUNING":
        return _prefix_problem(model, folder, acfg)
    return None

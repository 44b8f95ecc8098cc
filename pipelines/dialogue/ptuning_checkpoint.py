"""Find and load a persona's P-tuning: THUDM / DL-B P-tuning v2 checkpoints and peft adapters.

THUDM's ``ptuning/main.py`` saves only the trainable prefix encoder:
``checkpoint-N/pytorch_model.bin`` (newer transformers: ``model.safetensors``)
with keys ``transformer.prefix_encoder.embedding.weight`` of shape
``(pre_seq_len, num_layers * 2 * kv_width)`` and, with ``prefix_projection``,
``transformer.prefix_encoder.trans.{0,2}.{weight,bias}``.  At run time
ChatGLM turns the encoder's output into per-layer keys and values with
``view(B, T, 2 * layers, heads, head_dim).permute(2, 1, 0, 3, 4).split(2)``,
which is the same ``[layer][key|value][head][dim]`` order peft uses for prefix
tuning, so the same numbers load into peft's prefix encoder for
transformers-native GLM models, and into ``model.transformer.prefix_encoder``
for the original remote-code ChatGLM folders.

``pre_seq_len`` comes from the checkpoint; if the settings or the model's
config ask for a different one the load stops with a clear error (DL-B
loaded 64 against a 128 training run).
"""

from __future__ import annotations

import json
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..optional import require
from ..safe_load import load_error_line, weights_problem

THUDM_PREFIX = "transformer.prefix_encoder."
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin")
ADAPTER_CONFIG = "adapter_config.json"
FINETUNE_META = "finetune.json"


@contextmanager
def quiet_peft():
    """peft calls a transformers API that warns about its own deprecation; keep logs readable."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


class PtuningError(ValueError):
    """A P-tuning checkpoint that cannot be used, with what to do about it."""


@dataclass
class PrefixCheckpoint:
    """A THUDM-layout prefix encoder: its tensors (keys without the prefix) and shape facts."""

    path: Path
    state: dict[str, Any]
    pre_seq_len: int
    projection: bool

    @property
    def width(self) -> int:
        """Numbers per virtual token after the encoder: layers * 2 * kv width."""
        if self.projection:
            return int(self.state["trans.2.weight"].shape[0])
        return int(self.state["embedding.weight"].shape[1])

    def flat_prefix(self):
        """The encoder's output for every virtual token, ``(pre_seq_len, width)`` float32."""
        torch = require("torch", purpose="P-tuning checkpoints")
        emb = self.state["embedding.weight"].float()
        if not self.projection:
            return emb.clone()
        with torch.no_grad():
            h = torch.tanh(emb @ self.state["trans.0.weight"].float().T + self.state["trans.0.bias"].float())
            return h @ self.state["trans.2.weight"].float().T + self.state["trans.2.bias"].float()


@dataclass
class AdapterSource:
    kind: str  # "thudm" (prefix-encoder state dict) or "peft" (adapter folder)
    path: Path  # weights file (thudm) or adapter folder (peft)
    meta: dict = field(default_factory=dict)  # finetune.json written by our fine-tuning, if any


def _checkpoint_step(p: Path) -> int:
    m = re.fullmatch(r"checkpoint-(\d+)", p.name)
    return int(m.group(1)) if m else -1


def read_meta(folder: Path) -> dict:
    f = folder / FINETUNE_META
    if f.is_file():
        try:
            return json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return {}
    return {}


def locate(path: str | Path) -> AdapterSource:
    """What kind of P-tuning ``path`` holds (file, checkpoint folder, or training output folder)."""
    p = Path(path)
    if p.is_file():
        return AdapterSource("thudm", p, read_meta(p.parent))
    if not p.is_dir():
        raise PtuningError(
            f"P-tuning path {p} does not exist; set dialogue.chatglm.ptuning_dir to a checkpoint "
            f"folder (e.g. module/ptuning/<name>) or leave it empty for none"
        )
    meta = read_meta(p)
    if (p / ADAPTER_CONFIG).is_file():
        return AdapterSource("peft", p, meta)
    for name in WEIGHT_FILES:
        if (p / name).is_file():
            return AdapterSource("thudm", p / name, meta)
    for sub in ("best",):
        if (p / sub).is_dir():
            src = locate(p / sub)
            src.meta = src.meta or meta
            return src
    checkpoints = sorted((c for c in p.iterdir() if c.is_dir() and _checkpoint_step(c) >= 0), key=_checkpoint_step)
    if checkpoints:
        src = locate(checkpoints[-1])
        src.meta = src.meta or meta
        return src
    raise PtuningError(
        f"{p} holds no P-tuning: expected {ADAPTER_CONFIG} (peft adapter), "
        f"{' or '.join(WEIGHT_FILES[:2])} with {THUDM_PREFIX}* keys (THUDM P-tuning v2), "
        f"or checkpoint-N folders"
    )


def load_state_file(path: Path) -> dict[str, Any]:
    """Tensors of a ``.safetensors`` or ``.bin`` file (``weights_only``: no code runs)."""
    if path.suffix == ".safetensors":
        st = require("safetensors.torch", "safetensors", "reading checkpoints")
        try:
            return st.load_file(str(path))
        except Exception as exc:  # SafetensorError: a truncated or foreign file
            raise PtuningError(
                f"{path}: not a readable safetensors file ({str(exc).splitlines()[0][:160]}); it is "
                "probably cut short (an interrupted copy or save): copy it again or use an earlier "
                "checkpoint-N"
            ) from None
    torch = require("torch", purpose="reading checkpoints")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PtuningError(
            f"{path}: cannot read as a weights-only PyTorch checkpoint ({load_error_line(exc)})"
        ) from exc
    if not isinstance(state, dict):
        raise PtuningError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def read_thudm(path: Path) -> PrefixCheckpoint:
    raw = load_state_file(path)
    state = {}
    for key, value in raw.items():
        for head in (THUDM_PREFIX, "base_model.model." + THUDM_PREFIX, "module." + THUDM_PREFIX):
            if key.startswith(head):
                state[key[len(head) :]] = value
    if "embedding.weight" not in state:
        shown = ", ".join(list(raw)[:5]) or "none"
        raise PtuningError(
            f"{path}: not a P-tuning v2 checkpoint: no '{THUDM_PREFIX}embedding.weight' (keys found: {shown})"
        )
    projection = "trans.0.weight" in state
    if projection and not all(f"trans.{i}.{w}" in state for i in (0, 2) for w in ("weight", "bias")):
        raise PtuningError(f"{path}: prefix projection keys are incomplete (need trans.0/trans.2 weight and bias)")
    return PrefixCheckpoint(path, state, int(state["embedding.weight"].shape[0]), projection)


def check_pre_seq_len(ckpt: PrefixCheckpoint, expected: int | None, where: str) -> None:
    if expected and expected != ckpt.pre_seq_len:
        raise PtuningError(
            f"P-tuning checkpoint {ckpt.path} was trained with pre_seq_len={ckpt.pre_seq_len} "
            f"(prefix_encoder.embedding.weight has {ckpt.pre_seq_len} rows), but {where} asks for "
            f"pre_seq_len={expected}. Set dialogue.chatglm.pre_seq_len to {ckpt.pre_seq_len} or to 0 to take it from "
            f"the checkpoint (a mismatch like DL-B's 64 against a 128 training run cannot load)."
        )


def kv_width(config: Any) -> tuple[int, int, int]:
    """(layers, kv heads, head dim) of a model config (transformers-native or THUDM ChatGLM)."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    layers = get("num_hidden_layers") or get("num_layers")
    heads = get("num_attention_heads")
    hidden = get("hidden_size")
    if get("multi_query_attention"):  # ChatGLM2/3
        return int(layers), int(get("multi_query_group_num")), int(get("kv_channels"))
    kv_heads = get("num_key_value_heads") or heads
    head_dim = get("head_dim") or (hidden // heads)
    return int(layers), int(kv_heads), int(head_dim)


def apply_prefix_to_peft(model, ckpt: PrefixCheckpoint):
    """Wrap a transformers-native causal LM in a peft prefix-tuning model holding ``ckpt``'s prefix."""
    peft = require("peft", purpose="P-tuning on transformers-native models")
    layers, kv_heads, head_dim = kv_width(model.config)
    want = layers * 2 * kv_heads * head_dim
    if ckpt.width != want:
        raise PtuningError(
            f"P-tuning checkpoint {ckpt.path} does not fit this model: its prefix has {ckpt.width} numbers per "
            f"virtual token, the model needs {layers} layers x 2 x {kv_heads} kv heads x {head_dim} = {want}. "
            f"It was trained for a different base model; point dialogue.chatglm.model_dir at that model."
        )
    cfg = peft.PrefixTuningConfig(
        task_type=peft.TaskType.CAUSAL_LM,
        num_virtual_tokens=ckpt.pre_seq_len,
        num_layers=layers,
        token_dim=kv_heads * head_dim,
        num_attention_heads=kv_heads,
        prefix_projection=False,
        inference_mode=True,
    )
    with quiet_peft():
        pm = peft.get_peft_model(model, cfg)
    encoder = pm.prompt_encoder["default"]
    flat = ckpt.flat_prefix().to(encoder.embedding.weight.dtype)
    encoder.load_prompt_embeddings(flat)
    encoder.float()  # the prefix stays float32 (as THUDM does with quantised models)
    return pm


def apply_prefix_to_thudm(model, ckpt: PrefixCheckpoint) -> None:
    """Load ``ckpt`` into a remote-code ChatGLM model built with ``pre_seq_len`` (THUDM's way)."""
    encoder = getattr(getattr(model, "transformer", None), "prefix_encoder", None)
    if encoder is None:
        raise PtuningError(
            "this ChatGLM model has no transformer.prefix_encoder: it must be built with "
            "pre_seq_len in its config (the loader does this for THUDM folders)"
        )
    missing, unexpected = encoder.load_state_dict(ckpt.state, strict=False)
    if missing or unexpected:
        raise PtuningError(
            f"{ckpt.path}: prefix encoder keys do not match the model "
            f"(missing: {missing}, unexpected: {unexpected}); was prefix_projection different?"
        )
    encoder.float()


def load_peft_adapter(model, folder: Path):
    peft = require("peft", purpose="loading peft adapters")
    try:
        with quiet_peft():
            return peft.PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    except Exception as exc:
        raise PtuningError(
            f"{folder}: cannot load the peft adapter onto this model: {weights_problem(exc, 'the adapter folder')}"
        ) from exc


def apply_prefix_to_glm6b(model, ckpt: PrefixCheckpoint) -> None:
    """Load ``ckpt`` into our ChatGLM-6B (``pipelines.dialogue.glm``) built with its ``pre_seq_len``."""
    cfg = model.cfg
    want = cfg.num_layers * 2 * cfg.hidden_size
    if ckpt.width != want:
        raise PtuningError(
            f"P-tuning checkpoint {ckpt.path} does not fit this model: its prefix has {ckpt.width} numbers per "
            f"virtual token, this ChatGLM-6B needs {cfg.num_layers} layers x 2 x {cfg.hidden_size} = {want}. "
            f"It was trained for a model with another layer count or width; point dialogue.chatglm.model_dir at that model."
        )
    apply_prefix_to_thudm(model, ckpt)

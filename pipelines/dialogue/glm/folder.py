"""Recognise a THUDM ChatGLM folder and load it natively (no ``trust_remote_code``).

Generations by ``config.json``:

- ``chatglm6b`` (ChatGLM-6B): ``model_type`` ``chatglm`` with ``position_encoding_2d``
  / ``inner_hidden_size`` / ``num_layers`` and no ``kv_channels``; ``ice_text.model``;
- ``chatglm2`` / ``chatglm3``: ``model_type`` ``chatglm`` with ``kv_channels`` /
  ``multi_query_attention`` / ``padded_vocab_size``; ``tokenizer.model``; ChatGLM3
  is told apart by its ``_name_or_path`` / ``auto_map`` naming chatglm3, or a
  ``tokenizer_config.json`` mentioning its role tokens.

Weights: ``pytorch_model.bin`` / ``model.safetensors`` or THUDM's shards
``pytorch_model-0000N-of-0000M.bin`` + ``pytorch_model.bin.index.json``, read one
shard at a time (memory-mapped, ``weights_only``) into a model built on the meta
device, each tensor cast straight to the asked dtype (bf16/fp16 never pass
through fp32).  ChatGLM2/3 tensors are renamed (and the fused QKV split) onto
transformers' native ``GlmForCausalLM``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ...optional import require
from .tokenizers import ChatGLM2Tokenizer, ChatGLM6BTokenizer, TokenizerError

INDEX_FILES = ("pytorch_model.bin.index.json", "model.safetensors.index.json")
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")


class FolderError(ValueError):
    """A THUDM folder that cannot be loaded, with what to do about it."""


def generation(config: dict, folder: Path | None = None) -> str | None:
    """``chatglm6b`` / ``chatglm2`` / ``chatglm3`` for THUDM ChatGLM folders, else None."""
    if config.get("model_type") != "chatglm":
        return None
    if "kv_channels" in config or "multi_query_attention" in config or "padded_vocab_size" in config:
        text = json.dumps({k: config.get(k) for k in ("_name_or_path", "auto_map")}).lower()
        if "chatglm3" in text:
            return "chatglm3"
        tok_cfg = folder / "tokenizer_config.json" if folder else None
        if tok_cfg is not None and tok_cfg.is_file() and "<|observation|>" in tok_cfg.read_text(encoding="utf-8"):
            return "chatglm3"
        if tok_cfg is not None and tok_cfg.is_file() and "chatglm3" in tok_cfg.read_text(encoding="utf-8").lower():
            return "chatglm3"
        return "chatglm2"
    if "num_layers" in config and "inner_hidden_size" in config:
        return "chatglm6b"
    return None


# -- weights -------------------------------------------------------------------
def weight_files(folder: Path) -> list[Path]:
    for name in INDEX_FILES:
        index = folder / name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise FolderError(f"{index}: not a weight index (no weight_map): {exc}") from exc
            files = sorted(set(weight_map.values()))
            missing = [f for f in files if not (folder / f).is_file()]
            if missing:
                raise FolderError(
                    f"{folder}: {len(missing)} of {len(files)} weight shards are missing "
                    f"({', '.join(missing)}); copy every file listed in {name} into the folder"
                )
            return [folder / f for f in files]
    for name in SINGLE_FILES:
        if (folder / name).is_file():
            return [folder / name]
    raise FolderError(
        f"{folder}: no weights (expected {INDEX_FILES[0]} with its shards, or {' / '.join(SINGLE_FILES)})"
    )


def iter_tensors(files: list[Path]) -> Iterator[tuple[str, Any]]:
    torch = require("torch", purpose="loading ChatGLM weights")
    for path in files:
        if path.suffix == ".safetensors":
            st = require("safetensors", purpose="reading .safetensors weights")
            with st.safe_open(str(path), framework="pt") as f:
                for key in f:
                    yield key, f.get_tensor(key)
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:
            raise FolderError(
                f"{path}: cannot read this weight shard ({type(exc).__name__}); the file is "
                f"damaged or incomplete, copy it again"
            ) from exc
        yield from state.items()
        del state


def _assign(model, name: str, tensor, dtype) -> None:
    torch = require("torch", purpose="loading ChatGLM weights")
    module_name, _, attr = name.rpartition(".")
    module = model.get_submodule(module_name)
    old = getattr(module, attr)
    if tuple(old.shape) != tuple(tensor.shape):
        raise FolderError(
            f"weight {name} has shape {tuple(tensor.shape)} but config.json needs "
            f"{tuple(old.shape)}; config.json and the weights belong to different models"
        )
    value = tensor.to(dtype) if tensor.is_floating_point() else tensor
    if value.data_ptr() == tensor.data_ptr():
        value = value.clone()  # off the memory map
    setattr(module, attr, torch.nn.Parameter(value, requires_grad=False))


def _quantizable(name: str) -> bool:
    return (".layers." in name or name.startswith("lm_head.")) and "prefix_encoder" not in name


def _quantize_if_complete(model, module_name: str, mode: str = "int8") -> None:
    """Swap a fully loaded Linear for its quantised version (``dialogue.chatglm.quantize``: int8 / int4)."""
    torch = require("torch", purpose="weight quantisation")
    from ..quantize import quantize_linear

    lin = model.get_submodule(module_name)
    if type(lin) is not torch.nn.Linear or any(p.is_meta for p in lin.parameters()):
        return
    parent_name, _, attr = module_name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, quantize_linear(lin, mode))


def load_into(
    model, files: list[Path], dtype, rename: Callable[[str, Any], list[tuple[str, Any]]], quantize: str = "none"
) -> None:
    """Fill ``model`` (built on the meta device) from ``files``; every parameter must be covered.

    With ``quantize`` (int8 / int4) every Linear (the output layer too) is quantised as soon as its
    tensors have arrived, so at most one layer's weights exist unquantised at a time.
    """
    wanted = {n for n, _ in model.named_parameters()}
    seen: set[str] = set()
    for key, tensor in iter_tensors(files):
        for name, value in rename(key, tensor):
            if name in wanted:
                _assign(model, name, value, dtype)
                seen.add(name)
                if quantize != "none" and _quantizable(name):
                    _quantize_if_complete(model, name.rpartition(".")[0], quantize)
    missing = sorted(wanted - seen)
    if missing:
        raise FolderError(
            f"weights for {len(missing)} tensors are missing (e.g. {missing[0]}); the folder is "
            f"incomplete or config.json (num_layers) does not match its weights"
        )


# -- ChatGLM-6B ----------------------------------------------------------------
def _v1_rename(key: str, tensor):
    if key.endswith("rotary_emb.inv_freq") or ".prefix_encoder." in key:
        return []
    return [(key, tensor)]


def load_tokenizer(folder: Path, gen: str, config: dict):
    try:
        if gen == "chatglm6b":
            tok_cfg = _json(folder / "tokenizer_config.json")
            tok = ChatGLM6BTokenizer(folder / "ice_text.model", int(tok_cfg.get("num_image_tokens", 20000)))
            vocab = int(config["vocab_size"])
            for name, key in (("[gMASK]", "gmask_token_id"), ("<sop>", "bos_token_id"), ("<eop>", "eos_token_id")):
                if key in config and tok.specials[name] != int(config[key]):
                    raise TokenizerError(
                        f"{folder / 'ice_text.model'} does not match config.json: {name} is id {tok.specials[name]} "
                        f"in the tokenizer but {config[key]} in config.json ({key}); copy the folder's own "
                        f"ice_text.model and tokenizer_config.json"
                    )
        else:
            tok = ChatGLM2Tokenizer(folder / "tokenizer.model", roles=(gen == "chatglm3"))
            vocab = int(config.get("padded_vocab_size") or config.get("vocab_size"))
        if tok.vocab_size > vocab:
            name = "ice_text.model" if gen == "chatglm6b" else "tokenizer.model"
            raise TokenizerError(
                f"{folder / name} has {tok.vocab_size} tokens but the model's vocabulary is "
                f"{vocab}; this tokenizer belongs to another model, copy the folder's own {name}"
            )
    except TokenizerError as exc:
        raise FolderError(str(exc)) from exc
    return tok


def _json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


def load_chatglm6b(
    folder: Path,
    config: dict,
    dtype,
    pre_seq_len: int = 0,
    prefix_projection: bool = False,
    quantize: str = "none",
):
    torch = require("torch", purpose="the ChatGLM-6B model")
    from .chatglm6b_model import ChatGLM6B, GLM6BConfig

    cfg = GLM6BConfig.from_json(config, pre_seq_len=pre_seq_len or None, prefix_projection=prefix_projection)
    cfg.pre_seq_len = int(pre_seq_len or 0)
    with torch.device("meta"):
        model = ChatGLM6B(cfg)
    encoder = model.transformer.prefix_encoder
    model.transformer.prefix_encoder = None
    load_into(model, weight_files(folder), dtype, _v1_rename, quantize)
    if encoder is not None:  # created with real values, kept float32 (THUDM's way)
        model.transformer.prefix_encoder = encoder.to_empty(device="cpu")
        init_prefix_encoder(model.transformer.prefix_encoder)
    model._seq_cache = []
    return model.eval()


def init_prefix_encoder(encoder) -> None:
    torch = require("torch", purpose="P-tuning")
    with torch.no_grad():
        for mod in encoder.modules():
            if isinstance(mod, torch.nn.Embedding):
                torch.nn.init.normal_(mod.weight, std=0.02)
            elif isinstance(mod, torch.nn.Linear):
                torch.nn.init.normal_(mod.weight, std=0.02)
                torch.nn.init.zeros_(mod.bias)
    encoder.float()


# -- ChatGLM2 / ChatGLM3 onto transformers' GlmForCausalLM ----------------------
def glm_config(config: dict):
    tf = require("transformers", purpose="ChatGLM2/3 through transformers' GLM")
    heads = int(config["num_attention_heads"])
    kv = int(config["multi_query_group_num"]) if config.get("multi_query_attention") else heads
    eos = config.get("eos_token_id", 2)
    return tf.GlmConfig(
        vocab_size=int(config.get("padded_vocab_size") or config["vocab_size"]),
        hidden_size=int(config["hidden_size"]),
        intermediate_size=int(config["ffn_hidden_size"]),
        num_hidden_layers=int(config["num_layers"]),
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=int(config["kv_channels"]),
        max_position_embeddings=int(config.get("seq_length", 8192)),
        rms_norm_eps=float(config.get("layernorm_epsilon", 1e-5)),
        rope_parameters={
            "rope_type": "default",
            "partial_rotary_factor": 0.5,
            "rope_theta": 10000.0 * float(config.get("rope_ratio", 1.0)),
        },
        attention_bias=bool(config.get("add_qkv_bias", True)),
        tie_word_embeddings=False,
        pad_token_id=config.get("pad_token_id", 0),
        eos_token_id=eos,
        bos_token_id=None,
    )


def _v2_renamer(gcfg):
    q = gcfg.num_attention_heads * gcfg.head_dim
    kv = gcfg.num_key_value_heads * gcfg.head_dim

    def rename(key: str, t):
        if key.endswith("inv_freq") or ".prefix_encoder." in key:
            return []
        if key == "transformer.embedding.word_embeddings.weight":
            return [("model.embed_tokens.weight", t)]
        if key == "transformer.encoder.final_layernorm.weight":
            return [("model.norm.weight", t)]
        if key == "transformer.output_layer.weight":
            return [("lm_head.weight", t)]
        if not key.startswith("transformer.encoder.layers."):
            return [(key, t)]
        rest = key[len("transformer.encoder.layers.") :]
        n, _, sub = rest.partition(".")
        base = f"model.layers.{n}."
        if sub.startswith("self_attention.query_key_value."):
            kind = sub.rsplit(".", 1)[1]
            qt, kt, vt = t.split([q, kv, kv], dim=0)
            return [(base + f"self_attn.{p}_proj.{kind}", x) for p, x in zip("qkv", (qt, kt, vt))]
        table = {
            "self_attention.dense.weight": "self_attn.o_proj.weight",
            "mlp.dense_h_to_4h.weight": "mlp.gate_up_proj.weight",
            "mlp.dense_4h_to_h.weight": "mlp.down_proj.weight",
            "input_layernorm.weight": "input_layernorm.weight",
            "post_attention_layernorm.weight": "post_attention_layernorm.weight",
        }
        return [(base + table.get(sub, sub), t)]

    return rename


def load_chatglm2(folder: Path, config: dict, dtype, quantize: str = "none"):
    torch = require("torch", purpose="ChatGLM2/3")
    tf = require("transformers", purpose="ChatGLM2/3 through transformers' GLM")
    gcfg = glm_config(config)
    with torch.device("meta"):
        model = tf.GlmForCausalLM(gcfg)
    load_into(model, weight_files(folder), dtype, _v2_renamer(gcfg), quantize)
    rotary_cls = type(model.model.rotary_emb)
    model.model.rotary_emb = rotary_cls(config=gcfg)
    for name, buf in list(model.named_buffers()):
        if buf.is_meta:
            raise FolderError(f"internal: buffer {name} left uninitialised")
    return model.eval()


def positions_from_zero(peft_model, pre_seq_len: int) -> None:
    """THUDM's ChatGLM2/3 start positions at 0 after a P-tuning prefix; peft would start at ``pre_seq_len``.

    The prefix sits in the KV cache, so transformers numbers the first real token ``pre_seq_len``;
    the rotary embedding is given positions shifted back, which is exactly THUDM's numbering.
    """
    torch = require("torch", purpose="ChatGLM2/3 P-tuning")
    base = peft_model.get_base_model()
    inner = base.model.rotary_emb
    if isinstance(inner, _FromZero) or not pre_seq_len:
        return

    class _Shifted(_FromZero, torch.nn.Module):
        pass

    base.model.rotary_emb = _Shifted(inner, int(pre_seq_len))


class _FromZero:
    def __init__(self, inner, shift: int) -> None:
        super().__init__()
        self.inner = inner
        self.shift = shift

    def forward(self, x, position_ids=None):
        return self.inner(x, position_ids - self.shift)

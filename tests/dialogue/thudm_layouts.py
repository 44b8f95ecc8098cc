"""Tiny random folders in THUDM's exact ChatGLM layouts, built by the tests.

Each folder has what THUDM's Hugging Face repos ship: ``config.json`` with
THUDM's fields and ``auto_map``, ``tokenizer_config.json``, stand-ins for the
remote ``configuration_chatglm.py`` / ``modeling_chatglm.py`` /
``tokenization_chatglm.py`` (they raise if anything ever imports them), the
sentencepiece model (``ice_text.model`` / ``tokenizer.model``, trained on the
persona's chat log), and fp16 weights under THUDM's state-dict keys sharded as
``pytorch_model-0000N-of-0000M.bin`` with ``pytorch_model.bin.index.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

REMOTE_STUB = "raise RuntimeError('THUDM remote code was imported: it must never run')\n"
V1_USER_SYMBOLS = [
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<unused_0>",
    "<sop>",
    "<eop>",
    "<ENC>",
    "<dBLOCK>",
    "<n>",
    "<|tab|>",
] + [f"<|blank_{n}|>" for n in range(2, 81)]
NUM_IMAGE_TOKENS = 20000


def chat_lines(chat_log: Path) -> list[str]:
    lines = []
    for row in chat_log.read_text(encoding="utf-8").splitlines():
        if row.strip():
            r = json.loads(row)
            lines += [r["prompt"], r["response"]] + [x for pair in r.get("history", []) for x in pair]
    lines += [
        "[Round 0]",
        "问：",
        "答：",
        "Who are you?",
        "I'm Lin, a friendly digital persona.",
        "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,!?'\"()[]:;-",
    ]
    return lines


def train_sp(lines: list[str], out: Path, *, v1: bool, vocab_size: int = 600) -> Path:
    import sentencepiece as spm

    text = out.with_suffix(".txt")
    if v1:
        from pipelines.dialogue.glm.tokenizers import ChatGLM6BTokenizer

        lines = [ChatGLM6BTokenizer.preprocess(s) for s in lines]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kwargs = {
        "input": str(text),
        "model_prefix": str(out.with_suffix("")),
        "vocab_size": vocab_size,
        "model_type": "bpe",
        "character_coverage": 1.0,
        "hard_vocab_limit": False,
        "normalization_rule_name": "identity",
        "remove_extra_whitespaces": False,
        "unk_id": 0,
        "bos_id": 1,
        "eos_id": 2,
        "pad_id": 3 if v1 else -1,
        "minloglevel": 2,
    }
    if v1:
        kwargs["user_defined_symbols"] = V1_USER_SYMBOLS
        kwargs["pad_piece"] = "<pad>"
    else:
        kwargs["byte_fallback"] = True
        kwargs["vocab_size"] = vocab_size + 400
    spm.SentencePieceTrainer.train(**kwargs)
    text.unlink()
    return out


def write_sharded(folder: Path, state: dict, shards: int = 2) -> None:
    keys = list(state)
    per = -(-len(keys) // shards)
    weight_map, total = {}, 0
    for s in range(shards):
        name = f"pytorch_model-{s + 1:05d}-of-{shards:05d}.bin"
        part = {k: state[k] for k in keys[s * per : (s + 1) * per]}
        torch.save(part, folder / name)
        for k, v in part.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()
    (folder / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2), encoding="utf-8"
    )


def _stubs(folder: Path) -> None:
    for name in ("configuration_chatglm.py", "modeling_chatglm.py", "tokenization_chatglm.py"):
        (folder / name).write_text(REMOTE_STUB, encoding="utf-8")


def _rand(*shape, std=0.02):
    return (torch.randn(*shape) * std).half()


def build_chatglm6b(
    folder: Path, chat_log: Path, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0
) -> Path:
    """THUDM/chatglm-6b layout (vocab = 20000 image tokens + the ice_text pieces)."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    train_sp(chat_lines(chat_log), folder / "ice_text.model", v1=True)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "ice_text.model"))
    off = NUM_IMAGE_TOKENS
    vocab = off + sp.GetPieceSize()
    config = {
        "_name_or_path": "THUDM/chatglm-6b",
        "architectures": ["ChatGLMModel"],
        "auto_map": {
            "AutoConfig": "configuration_chatglm.ChatGLMConfig",
            "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
            "AutoModelForSeq2SeqLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
        },
        "bos_token_id": off + sp.PieceToId("<sop>"),
        "eos_token_id": off + sp.PieceToId("<eop>"),
        "mask_token_id": off + sp.PieceToId("[MASK]"),
        "gmask_token_id": off + sp.PieceToId("[gMASK]"),
        "pad_token_id": off + sp.PieceToId("<pad>"),
        "hidden_size": hidden,
        "inner_hidden_size": 4 * hidden,
        "layernorm_epsilon": 1e-05,
        "max_sequence_length": 2048,
        "model_type": "chatglm",
        "num_attention_heads": heads,
        "num_layers": layers,
        "position_encoding_2d": True,
        "torch_dtype": "float16",
        "transformers_version": "4.27.1",
        "use_cache": True,
        "vocab_size": vocab,
        "pre_seq_len": None,
        "prefix_projection": False,
        "quantization_bit": 0,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "name_or_path": "THUDM/chatglm-6b",
                "bos_token": "<sop>",
                "eop_token": "<eop>",
                "eos_token": "<eop>",
                "end_token": "</s>",
                "gmask_token": "[gMASK]",
                "mask_token": "[MASK]",
                "pad_token": "<pad>",
                "unk_token": "<unk>",
                "remove_space": False,
                "do_lower_case": False,
                "tokenizer_class": "ChatGLMTokenizer",
                "num_image_tokens": NUM_IMAGE_TOKENS,
                "padding_side": "left",
                "auto_map": {"AutoTokenizer": ["tokenization_chatglm.ChatGLMTokenizer", None]},
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    _stubs(folder)
    torch.manual_seed(seed)
    hd = hidden // heads
    state = {"transformer.word_embeddings.weight": _rand(vocab, hidden, std=1.0)}
    for i in range(layers):
        p = f"transformer.layers.{i}."
        state.update(
            {
                p + "input_layernorm.weight": (1 + _rand(hidden, std=0.1).float()).half(),
                p + "input_layernorm.bias": _rand(hidden),
                p + "attention.rotary_emb.inv_freq": (
                    1.0 / (10000 ** (torch.arange(0, hd // 2, 2).float() / (hd // 2)))
                ).half(),
                p + "attention.query_key_value.weight": _rand(3 * hidden, hidden, std=0.2),
                p + "attention.query_key_value.bias": _rand(3 * hidden),
                p + "attention.dense.weight": _rand(hidden, hidden, std=0.2),
                p + "attention.dense.bias": _rand(hidden),
                p + "post_attention_layernorm.weight": (1 + _rand(hidden, std=0.1).float()).half(),
                p + "post_attention_layernorm.bias": _rand(hidden),
                p + "mlp.dense_h_to_4h.weight": _rand(4 * hidden, hidden, std=0.2),
                p + "mlp.dense_h_to_4h.bias": _rand(4 * hidden),
                p + "mlp.dense_4h_to_h.weight": _rand(hidden, 4 * hidden, std=0.1),
                p + "mlp.dense_4h_to_h.bias": _rand(hidden),
            }
        )
    state["transformer.final_layernorm.weight"] = torch.ones(hidden).half()
    state["transformer.final_layernorm.bias"] = torch.zeros(hidden).half()
    state["lm_head.weight"] = _rand(vocab, hidden, std=0.5)
    write_sharded(folder, state)
    return folder


def build_chatglm2(
    folder: Path,
    chat_log: Path,
    *,
    v3: bool = False,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    groups: int = 2,
    seed: int = 0,
) -> Path:
    """THUDM/chatglm2-6b (or chatglm3-6b) layout."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    train_sp(chat_lines(chat_log), folder / "tokenizer.model", v1=False)
    n_words = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")).GetPieceSize()
    specials = 9 if v3 else 5
    padded = -(-(n_words + specials) // 64) * 64
    kv = hidden // heads
    name = "THUDM/chatglm3-6b" if v3 else "THUDM/chatglm2-6b"
    config = {
        "_name_or_path": name,
        "model_type": "chatglm",
        "architectures": ["ChatGLMModel"],
        "auto_map": {
            "AutoConfig": "configuration_chatglm.ChatGLMConfig",
            "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
            "AutoModelForCausalLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
            "AutoModelForSeq2SeqLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
            "AutoModelForSequenceClassification": "modeling_chatglm.ChatGLMForSequenceClassification",
        },
        "add_bias_linear": False,
        "add_qkv_bias": True,
        "apply_query_key_layer_scaling": True,
        "apply_residual_connection_post_layernorm": False,
        "attention_dropout": 0.0,
        "attention_softmax_in_fp32": True,
        "bias_dropout_fusion": True,
        "ffn_hidden_size": 2 * hidden,
        "fp32_residual_connection": False,
        "hidden_dropout": 0.0,
        "hidden_size": hidden,
        "kv_channels": kv,
        "layernorm_epsilon": 1e-05,
        "multi_query_attention": True,
        "multi_query_group_num": groups,
        "num_attention_heads": heads,
        "num_layers": layers,
        "original_rope": True,
        "padded_vocab_size": padded,
        "post_layer_norm": True,
        "rmsnorm": True,
        "seq_length": 8192 if v3 else 32768,
        "use_cache": True,
        "torch_dtype": "float16",
        "transformers_version": "4.30.2",
        "tie_word_embeddings": False,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "pre_seq_len": None,
        "prefix_projection": False,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tok_cfg = {
        "name_or_path": name,
        "remove_space": False,
        "do_lower_case": False,
        "tokenizer_class": "ChatGLMTokenizer",
        "padding_side": "left",
        "auto_map": {"AutoTokenizer": ["tokenization_chatglm.ChatGLMTokenizer", None]},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2), encoding="utf-8")
    _stubs(folder)
    torch.manual_seed(seed)
    state = {
        "transformer.embedding.word_embeddings.weight": _rand(padded, hidden, std=1.0),
        "transformer.rotary_pos_emb.inv_freq": (
            1.0 / (10000 ** (torch.arange(0, kv // 2, 2).float() / (kv // 2)))
        ).half(),
    }
    qkv = hidden + 2 * groups * kv
    for i in range(layers):
        p = f"transformer.encoder.layers.{i}."
        state.update(
            {
                p + "input_layernorm.weight": (1 + _rand(hidden, std=0.1).float()).half(),
                p + "self_attention.query_key_value.weight": _rand(qkv, hidden, std=0.2),
                p + "self_attention.query_key_value.bias": _rand(qkv),
                p + "self_attention.dense.weight": _rand(hidden, hidden, std=0.2),
                p + "post_attention_layernorm.weight": (1 + _rand(hidden, std=0.1).float()).half(),
                p + "mlp.dense_h_to_4h.weight": _rand(4 * hidden, hidden, std=0.2),
                p + "mlp.dense_4h_to_h.weight": _rand(hidden, 2 * hidden, std=0.1),
            }
        )
    state["transformer.encoder.final_layernorm.weight"] = torch.ones(hidden).half()
    state["transformer.output_layer.weight"] = _rand(padded, hidden, std=0.5)
    write_sharded(folder, state)
    return folder

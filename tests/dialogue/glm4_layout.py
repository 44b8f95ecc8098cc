"""A tiny random folder in the layout of ``THUDM/glm-4-9b-chat-hf`` (transformers-native GLM-4).

``config.json`` has the real folder's keys (``GlmForCausalLM``, ``model_type`` glm, the legacy
``rope_theta`` / ``partial_rotary_factor`` keys, ``attention_bias``, three ``eos_token_id``s),
scaled down; ``generation_config.json`` as shipped (sampling, the three stop ids);
``tokenizer.json`` / ``tokenizer_config.json`` with GLM-4's special tokens in their real order
after the ordinary vocabulary and GLM-4's chat template (``[gMASK]<sop>``, ``<|role|>{metadata}\\n``
per message, ``<|assistant|>`` to answer).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: GLM-4's special tokens, in the order of its tokenizer (ids 151329.. in the real one)
GLM4_SPECIALS = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
]

#: glm-4-9b-chat-hf's template, its tool branch shortened (never taken here)
GLM4_TEMPLATE = (
    "[gMASK]<sop>{% for item in messages %}{% if item['tools'] is defined %}<|system|>\n"
    "你是一个名为 ChatGLM 的人工智能助手。\n\n# 可用工具{% endif %}"
    "{% if item['content'] %}<|{{ item['role'] }}|>{{ item['metadata'] }}\n{{ item['content'] }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_glm4(folder: Path, texts: list[str], *, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    import tokenizers as tk
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    bpe = tk.Tokenizer(tk.models.BPE())
    bpe.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=800, initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    bpe.add_special_tokens(GLM4_SPECIALS)  # after the ordinary vocabulary, as in GLM-4
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>", padding_side="left"
    )
    tok.chat_template = GLM4_TEMPLATE
    tok.save_pretrained(folder)
    ids = {t: bpe.token_to_id(t) for t in GLM4_SPECIALS}
    eos = [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]
    vocab = -(-bpe.get_vocab_size() // 64) * 64
    heads, kv_heads = 4, 2
    config = {
        "architectures": ["GlmForCausalLM"],
        "attention_bias": True,
        "attention_dropout": 0.0,
        "eos_token_id": eos,
        "head_dim": hidden // heads,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": 131072,
        "model_type": "glm",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "pad_token_id": eos[0],
        "partial_rotary_factor": 0.5,
        "rms_norm_eps": 1.5625e-07,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.0.dev0",
        "use_cache": True,
        "vocab_size": vocab,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    model = transformers.GlmForCausalLM(transformers.AutoConfig.from_pretrained(folder)).to(torch.bfloat16)
    model.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")  # the real keys, as shipped
    gen = {
        "do_sample": True,
        "eos_token_id": eos,
        "max_length": 128000,
        "pad_token_id": eos[0],
        "temperature": 0.8,
        "top_p": 0.8,
        "transformers_version": "4.46.0.dev0",
    }
    (folder / "generation_config.json").write_text(json.dumps(gen, indent=2), encoding="utf-8")
    return folder


def force_next_token(folder: Path, token: str) -> None:
    """Rewrite the weights so every next token is ``token`` (all embeddings equal -> one hidden state)."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    state = load_file(str(path))
    emb = state["model.embed_tokens.weight"]
    emb[:] = emb[0]
    state["model.embed_tokens.weight"] = emb
    save_file(state, str(path), metadata={"format": "pt"})
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(folder).float()
    with torch.no_grad():
        h = model.model(torch.tensor([[0]])).last_hidden_state[0, -1]
    tid = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["added_tokens"]
    idx = next(t["id"] for t in tid if t["content"] == token)
    state["lm_head.weight"][idx] = (h / h.norm()).to(state["lm_head.weight"].dtype)
    save_file(state, str(path), metadata={"format": "pt"})

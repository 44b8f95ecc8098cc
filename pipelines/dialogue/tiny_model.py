"""Build a tiny, randomly initialised GLM model folder offline (tests and benchmarks).

The folder looks like any transformers-native GLM folder (``config.json``,
``model.safetensors``, ``tokenizer.json`` with a chat template), so the
``chatglm`` backend, fine-tuning and the benchmark run on it exactly as on a
real one — only much smaller: a byte-level BPE tokenizer trained with
``tokenizers`` on the given texts, hidden size 64, 2 layers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..atomic_files import atomic_dir
from ..optional import require

SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1000):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with the chat template."""
    tk = require("tokenizers", purpose="building the tiny test model's tokenizer")
    transformers = require("transformers", purpose="the chatglm dialogue backend")
    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_glm(
    out_dir: str | os.PathLike,
    texts: Iterable[str],
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    vocab_size: int = 1000,
    seed: int = 0,
) -> Path:
    """Write a tiny random ``GlmForCausalLM`` folder to ``out_dir`` (atomically) and return it."""
    from .model_loader import _transformers

    torch = require("torch", purpose="the chatglm dialogue backend")
    transformers = _transformers()  # offline, no progress bars
    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    user = tokenizer.convert_tokens_to_ids("<|user|>")
    config = transformers.GlmConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        head_dim=hidden_size // num_heads,
        max_position_embeddings=1024,
        pad_token_id=eos,
        eos_token_id=[eos, user],
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = transformers.GlmForCausalLM(config).eval()
    model.generation_config.pad_token_id = eos
    model.generation_config.eos_token_id = [eos, user]
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


def chat_log_texts(path: str | os.PathLike) -> list[str]:
    """Every prompt, response and history line of a chat log (tokenizer training text)."""
    from .chat_data import load_chat_log

    examples, _ = load_chat_log(path)
    texts = []
    for e in examples:
        texts += [e.prompt, e.response]
        for q, a in e.history:
            texts += [q, a]
    return texts

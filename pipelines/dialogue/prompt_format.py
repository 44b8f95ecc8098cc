"""How a conversation becomes the model's input text (the same at training and at inference).

Formats:

- ``chatglm``: THUDM ChatGLM-6B's round format, exactly as its P-tuning script
  trains it: ``[Round i]\\n问：q\\n答：a\\n`` per past round (i from 0) and
  ``[Round n]\\n问：query\\n答：`` for the new one;
- ``chatglm2``: ChatGLM2-6B's ``[Round i]\\n\\n问：q\\n\\n答：a\\n\\n`` (i from 1);
- ``chatglm3``: ChatGLM3-6B's role tokens ``<|system|>`` ``<|user|>``
  ``<|assistant|>`` as special ids (``build_ids``), each followed by ``\n`` and
  the message, then ``<|assistant|>``; prefix ``[gMASK] sop``;
- ``template``: the tokenizer's chat template (GLM-4, transformers-native GLM,
  any chat model), with the system prompt as a ``system`` message;
- ``plain``: ``User: …\\nAssistant: …`` lines for a model with no template.

The round formats have no system prompt (THUDM's P-tuning data never had one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

FORMATS = ("chatglm", "chatglm2", "chatglm3", "template", "plain")

Round = tuple[str, str]


@dataclass
class PromptFormat:
    kind: str
    tokenizer: Any = None
    system_prompt: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FORMATS:
            raise ValueError(f"unknown prompt format {self.kind!r} (known: {', '.join(FORMATS)})")
        if self.kind == "template" and not getattr(self.tokenizer, "chat_template", None):
            raise ValueError("prompt format 'template' needs a tokenizer with a chat template")

    def build_ids(self, query: str, history: Sequence[Round] = ()) -> list[int]:
        """Token ids for THUDM's own tokenizers (``pipelines.dialogue.glm``), special tokens as ids.

        ChatGLM-6B: the round text, then ``[gMASK] <sop>``; ChatGLM2: ``[gMASK] sop``
        then the round text; ChatGLM3: ``[gMASK] sop`` and one role-token message each.
        """
        tok = self.tokenizer
        if self.kind == "chatglm3":
            ids = list(tok.prefix)
            if self.system_prompt:
                ids += tok.message_ids("system", self.system_prompt)
            for q, a in history:
                ids += tok.message_ids("user", q) + tok.message_ids("assistant", a)
            return ids + tok.message_ids("user", query) + [tok.get_command("<|assistant|>")]
        if self.kind in ("chatglm", "chatglm2"):
            return tok.encode(self.build(query, history), add_special_tokens=True)
        raise ValueError(f"prompt format {self.kind!r} is built as text")

    def build(self, query: str, history: Sequence[Round] = ()) -> str:
        """The text the model continues with its reply."""
        if self.kind == "chatglm3":
            return self.tokenizer.decode(self.build_ids(query, history))
        if self.kind == "chatglm":
            text = "".join(f"[Round {i}]\n问：{q}\n答：{a}\n" for i, (q, a) in enumerate(history))
            return text + f"[Round {len(history)}]\n问：{query}\n答："
        if self.kind == "chatglm2":
            text = "".join(f"[Round {i}]\n\n问：{q}\n\n答：{a}\n\n" for i, (q, a) in enumerate(history, 1))
            return text + f"[Round {len(history) + 1}]\n\n问：{query}\n\n答："
        if self.kind == "plain":
            head = f"{self.system_prompt}\n" if self.system_prompt else ""
            text = "".join(f"User: {q}\nAssistant: {a}\n" for q, a in history)
            return head + text + f"User: {query}\nAssistant:"
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        for q, a in history:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": query})
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def round_text(self, query: str, answer: str) -> str:
        """Approximate text of one past round (for the history token budget)."""
        return f"{query}\n{answer}\n"


def detect_format(model_config: dict, tokenizer: Any) -> str:
    """The natural prompt format of a model folder (``config.json`` dict + tokenizer)."""
    model_type = str(model_config.get("model_type", ""))
    from .glm.folder import generation

    gen = generation(model_config)
    if gen in ("chatglm2", "chatglm3") and hasattr(tokenizer, "specials"):
        return "chatglm3" if "<|user|>" in tokenizer.specials else "chatglm2"
    if gen == "chatglm6b" and hasattr(tokenizer, "specials"):
        return "chatglm"
    if model_type == "chatglm":
        if getattr(tokenizer, "chat_template", None):
            return "template"  # ChatGLM3 / GLM-4 remote-code folders ship a template
        if "multi_query_attention" in model_config or "kv_channels" in model_config:
            return "chatglm2"
        return "chatglm"
    if getattr(tokenizer, "chat_template", None):
        return "template"
    return "plain"

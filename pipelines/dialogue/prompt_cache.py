"""The conversation's keys/values kept between turns, so turn N does not re-read turns 1..N-1.

After a turn the cache holds the keys/values of the whole prompt and of the reply
(a transformers ``DynamicCache``).  The next prompt is compared token by token
with what the cache holds; the longest common prefix is kept (``crop``) and only
the new tokens are prefilled.  Anything that changes the front of the prompt
(oldest rounds dropped from the history, a reset, a restored history, the context
cut) shortens the common prefix, so those tokens are recomputed: the reuse is exact
by construction for causal models.  An interrupted or failed turn throws the cache
away (``clear``).  The persona's system prompt is prefilled at load (``warm``).

P-tuning v2 (peft prefix tuning): the virtual tokens' keys/values sit at the
cache's start; the generate call goes to the base model with placeholder ids in
their place (never computed: they are inside the cache); positions follow the
attention mask as on peft's own path (ChatGLM2/3's THUDM numbering from 0 is the
shifted rotary table of ``glm.folder.positions_from_zero``, the same on both paths).

Which models: transformers causal LMs (native GLM / GLM-4, ChatGLM2/3 mapped onto
``GlmForCausalLM``, any ``AutoModelForCausalLM``), plain or with a peft adapter.
ChatGLM-6B (v1) cannot reuse a past turn: its prompt is one bidirectional block
(every token before ``<sop>`` sees every other, so the keys of round 1 change when
round 2 is appended); only its P-tuning prefix is kept (``ChatGLM6B.prefix_past``).
Remote-code models keep their own cache formats and are not cached across turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..optional import require


@dataclass
class CachePlan:
    """What one turn hands to ``generate``."""

    model: Any
    input_ids: Any
    extra: dict  # attention_mask / position_ids / past_key_values
    reused: int  # prompt tokens whose keys/values came from the cache
    prompt_ids: list[int]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def cache_kind(loaded) -> str:
    """``hf`` (reusable across turns), ``glm6b`` (bidirectional prompt) or ``none``."""
    if loaded.remote_code:
        return "none"
    if loaded.generation == "chatglm6b":
        return "glm6b"
    base = loaded.model.get_base_model() if hasattr(loaded.model, "get_base_model") else loaded.model
    tf = require("transformers", purpose="the chatglm dialogue backend")
    if isinstance(base, tf.PreTrainedModel) and getattr(base, "_supports_cache_class", True) is not False:
        return "hf"
    return "none"


class PromptCache:
    """Keys/values of the last prompt + reply of one loaded model."""

    def __init__(self, loaded) -> None:
        self.loaded = loaded
        self.kind = cache_kind(loaded)
        model = loaded.model
        self.peft = model if hasattr(model, "get_base_model") else None
        self.base = model.get_base_model() if self.peft is not None else model
        cfg = self.peft.active_peft_config if self.peft is not None else None
        self.prefix = int(cfg.num_virtual_tokens) if cfg is not None and cfg.peft_type.value == "PREFIX_TUNING" else 0
        self.cache: Any = None
        self.ids: list[int] = []  # the tokens (after the virtual prefix) the cache holds
        self.last_reused = 0

    @property
    def enabled(self) -> bool:
        return self.kind == "hf"

    def clear(self) -> None:
        self.cache = None
        self.ids = []

    # -- one turn -------------------------------------------------------------
    def _fresh(self):
        tf = require("transformers", purpose="the chatglm dialogue backend")
        if self.prefix:
            torch = require("torch", purpose="the chatglm dialogue backend")
            with torch.inference_mode():
                return self.peft.get_prompt(batch_size=1)
        return tf.DynamicCache(config=self.base.config)

    def _cropped(self, keep: int):
        """The cache cut down to the virtual prefix + ``keep`` tokens (None: start afresh)."""
        if self.cache is None or (keep == 0 and not self.prefix):
            return None
        have = self.cache.get_seq_length()
        want = self.prefix + keep
        if have > want:
            try:
                self.cache.crop(want - have)  # transformers 5: the (negative) number of tokens to drop
            except (ValueError, RuntimeError, TypeError):
                return None
            if self.cache.get_seq_length() != want:
                return None
        return self.cache

    def plan(self, prompt_ids: list[int]) -> CachePlan:
        torch = require("torch", purpose="the chatglm dialogue backend")
        if not self.enabled:
            return CachePlan(self.loaded.model, torch.tensor([prompt_ids]), {}, 0, list(prompt_ids))
        keep = min(_common_prefix(self.ids, prompt_ids), len(prompt_ids) - 1)
        cache = self._cropped(keep)
        if cache is None:
            keep = 0
            cache = self._fresh()
        self.cache, self.ids = cache, list(prompt_ids[:keep])
        self.last_reused = keep
        p = self.prefix
        ids = torch.tensor([[prompt_ids[0]] * p + list(prompt_ids)])  # placeholders: inside the cache already
        # positions follow the mask, as on peft's own path: the real tokens count on from the prefix
        extra: dict[str, Any] = {"past_key_values": cache, "attention_mask": torch.ones_like(ids)}
        return CachePlan(self.base, ids, extra, keep, list(prompt_ids))

    def keep(self, plan: CachePlan, new_ids: list[int]) -> None:
        """After a finished turn: remember which tokens the cache now holds."""
        if not self.enabled or self.cache is None:
            return
        held = self.cache.get_seq_length() - self.prefix
        tokens = plan.prompt_ids + list(new_ids)
        if held < 0 or held > len(tokens):
            self.clear()
            return
        self.ids = tokens[:held]

    def warm(self, head_ids: list[int]) -> int:
        """Prefill ``head_ids`` (the system prompt) so the first turn starts from them; returns their count."""
        if not self.enabled or len(head_ids) < 2:
            return 0
        torch = require("torch", purpose="the chatglm dialogue backend")
        plan = self.plan(list(head_ids) + [head_ids[-1]])  # the last one stays out, as in a turn
        todo = plan.input_ids[:, self.prefix + plan.reused : -1]
        if todo.shape[1] == 0:
            return plan.reused
        start = self.prefix + plan.reused
        kwargs = {
            "past_key_values": plan.extra["past_key_values"],
            "use_cache": True,
            "position_ids": torch.arange(start, start + todo.shape[1])[None].to(self.base.device),
        }
        with torch.inference_mode():
            self.base(input_ids=todo.to(self.base.device), **kwargs)
        self.ids = list(head_ids)
        return len(head_ids)

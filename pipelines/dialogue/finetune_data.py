"""Chat examples -> token sequences with the prompt masked out of the labels, and batches.

Each example becomes ``source + target``: ``source`` is the prompt exactly as
the ``chatglm`` backend builds it at inference (same ``PromptFormat``, same
history), left-truncated to ``max_source_length`` (the newest words matter
most); ``target`` is the response, cut to ``max_target_length``, plus the end
token.  Labels are ``-100`` on the source, as in THUDM's P-tuning script; for
ChatGLM-6B (v1) the source's last token, ``<sop>``, keeps its label as there
(``ptuning/main.py``: ``labels = [-100] * context_length + input_ids[context_length:]``
with ``context_length`` the index of ``<sop>``), so ``[gMASK]`` learns to predict ``<sop>``.

Batch order is a pure function of (seed, epoch), so a resumed run sees exactly
the batches the interrupted run would have seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .chat_data import ChatExample
from .prompt_format import PromptFormat

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    line: int


def encode_examples(
    examples: Sequence[ChatExample],
    tokenizer: Any,
    fmt: PromptFormat,
    eos_id: int,
    max_source_length: int,
    max_target_length: int,
) -> list[Encoded]:
    add_special = fmt.kind in ("chatglm", "chatglm2")
    out = []
    by_ids = hasattr(tokenizer, "specials") and fmt.kind in ("chatglm", "chatglm2", "chatglm3")
    for ex in examples:
        head: list[int] = []
        if by_ids:  # our THUDM tokenizers: special tokens as ids, [gMASK] sop kept in front when cut
            src = fmt.build_ids(ex.prompt, ex.history)
            if fmt.kind != "chatglm":
                head, src = src[:2], src[2:]
        else:
            src = tokenizer(fmt.build(ex.prompt, ex.history), add_special_tokens=add_special).input_ids
        if len(src) > max_source_length - len(head):
            src = src[-(max_source_length - len(head)) :]
        src = head + src
        tgt = tokenizer(ex.response, add_special_tokens=False).input_ids[:max_target_length] + [eos_id]
        labels = [IGNORE] * len(src) + tgt
        if fmt.kind == "chatglm" and src and src[-1] == getattr(tokenizer, "bos_token_id", None):
            labels[len(src) - 1] = src[-1]  # THUDM v1 keeps <sop> in the labels
        out.append(Encoded(src + tgt, labels, ex.line))
    return out


def split_eval(n: int, eval_split: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, eval indices); ``eval_split`` is a fraction of the examples."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    if eval_split <= 0 or n < 2:
        return sorted(order), []
    n_eval = min(n - 1, max(1, int(round(n * eval_split))))
    return sorted(order[n_eval:]), sorted(order[:n_eval])


class BatchPlan:
    """Micro-batch ``m`` of the whole run (over epochs), deterministic from the seed."""

    def __init__(self, train_idx: Sequence[int], batch_size: int, seed: int) -> None:
        self.train_idx = list(train_idx)
        self.batch_size = max(1, batch_size)
        self.seed = seed
        self.per_epoch = max(1, math.ceil(len(self.train_idx) / self.batch_size))
        self._epoch = -1
        self._order: list[int] = []

    def micro_batch(self, m: int) -> tuple[list[int], int]:
        """(example indices, epoch) of micro-batch ``m`` (0-based)."""
        epoch, pos = divmod(m, self.per_epoch)
        if epoch != self._epoch:
            rng = np.random.default_rng(self.seed + 1000 + epoch)
            self._order = [self.train_idx[i] for i in rng.permutation(len(self.train_idx))]
            self._epoch = epoch
        return self._order[pos * self.batch_size : (pos + 1) * self.batch_size], epoch


def collate(items: Sequence[Encoded], pad_id: int):
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` tensors."""
    import torch

    width = max(len(it.input_ids) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it.input_ids)
        ids[row, :n] = torch.tensor(it.input_ids)
        labels[row, :n] = torch.tensor(it.labels)
        mask[row, :n] = 1
    return ids, mask, labels

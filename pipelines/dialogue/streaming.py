"""Token streaming out of ``model.generate`` with an immediate stop.

``generate`` runs in a helper thread and hands each new token to a queue
(``TokenQueue``, a transformers streamer); the caller's generator decodes the
tokens incrementally and yields text as soon as it is printable (a byte-level
BPE token can end in the middle of a UTF-8 character, which is held back until
it is complete).  A ``StoppingCriteria`` checks the caller's cancel flag before
every token, and closing the generator (an interrupted turn) sets that flag
too, so generation stops within one token.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from ..optional import require

_END = object()


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0
    started: float = 0.0
    first_token_at: float | None = None
    finished_at: float | None = None
    stopped_early: bool = False
    tokens_at: list[float] = field(default_factory=list)  # when the consumer received each token
    produced_at: list[float] = field(default_factory=list)  # when generate() produced each token
    output_ids: list[int] = field(default_factory=list)  # the tokens generate() produced
    reused_tokens: int = 0  # prompt tokens whose keys/values came from the previous turns

    @property
    def time_to_first_token(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def tokens_per_second(self) -> float | None:
        """Decoding speed after the first token (the prompt's prefill excluded)."""
        if self.first_token_at is None or len(self.tokens_at) < 2:
            return None
        span = self.tokens_at[-1] - self.first_token_at
        return (self.new_tokens - 1) / span if span > 0 else None


def _streamer_base():
    tf = require("transformers", purpose="the chatglm dialogue backend")
    return tf.generation.streamers.BaseStreamer


class IncrementalDecoder:
    """Text of a growing token list, handed out piece by piece."""

    def __init__(self, tokenizer: Any, skip_ids: Sequence[int] = ()) -> None:
        self.tokenizer = tokenizer
        self.skip = set(skip_ids)
        self.ids: list[int] = []
        self.sent = 0  # characters already handed out

    def push(self, ids: Sequence[int]) -> str:
        self.ids += [i for i in ids if i not in self.skip]
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            text = text.rstrip("\ufffd")  # an unfinished UTF-8 character: wait for its other bytes
        piece = text[self.sent :] if len(text) > self.sent else ""
        self.sent = max(self.sent, len(text))
        return piece

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        piece = text[self.sent :] if len(text) > self.sent else ""
        self.sent = len(text)
        return piece


def stream_generate(
    model: Any,
    tokenizer: Any,
    input_ids,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    eos_token_ids: Sequence[int] = (),
    should_stop: Callable[[], bool] = lambda: False,
    stats: GenerationStats | None = None,
    generate_kwargs: dict | None = None,
) -> Iterator[str]:
    """Yield the reply's text in pieces while ``model.generate`` is still running.

    ``generate_kwargs``: passed on (``past_key_values`` / ``attention_mask`` / ``position_ids``
    of a kept cache, ``prompt_cache.py``); ``stats.output_ids`` collects the new tokens."""
    torch = require("torch", purpose="the chatglm dialogue backend")
    tf = require("transformers", purpose="the chatglm dialogue backend")
    stats = stats if stats is not None else GenerationStats()
    tokens: "queue.Queue[Any]" = queue.Queue()
    stop = threading.Event()

    class TokenQueue(_streamer_base()):
        def __init__(self) -> None:
            self.prompt_seen = False

        def put(self, value) -> None:
            if not self.prompt_seen:  # generate() first hands over the prompt itself
                self.prompt_seen = True
                return
            stats.produced_at.append(time.perf_counter())
            ids = value.reshape(-1).tolist()
            stats.output_ids.extend(ids)
            tokens.put(ids)

        def end(self) -> None:
            tokens.put(_END)

    class StopOnFlag(tf.StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            hit = stop.is_set() or should_stop()
            if hit:
                stop.set()
            return torch.full((input_ids.shape[0],), hit, dtype=torch.bool, device=input_ids.device)

    device = next(model.parameters()).device
    input_ids = input_ids.to(device)
    gen_kwargs = dict(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=max_new_tokens,
        streamer=TokenQueue(),
        stopping_criteria=tf.StoppingCriteriaList([StopOnFlag()]),
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (list(eos_token_ids) or [0])[0],
    )
    for key, value in (generate_kwargs or {}).items():
        gen_kwargs[key] = value.to(device) if hasattr(value, "to") and hasattr(value, "dtype") else value
    if eos_token_ids:
        gen_kwargs["eos_token_id"] = list(eos_token_ids)
    if temperature and temperature > 0:
        gen_kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
    else:
        gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(**gen_kwargs)
        except BaseException as exc:  # handed to the consumer
            failure.append(exc)
            tokens.put(_END)

    stats.prompt_tokens = int(input_ids.shape[-1])
    stats.started = time.perf_counter()
    decoder = IncrementalDecoder(tokenizer, skip_ids=eos_token_ids)
    worker = threading.Thread(target=run, name="dialogue-generate", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = tokens.get(timeout=0.1)
            except queue.Empty:
                if should_stop():
                    stop.set()
                continue
            if item is _END:
                stats.finished_at = time.perf_counter()
                break
            now = time.perf_counter()
            if stats.first_token_at is None:
                stats.first_token_at = now
            stats.new_tokens += len(item)
            stats.tokens_at.append(now)
            if stop.is_set() or should_stop():
                stop.set()
                continue  # drain until generate() notices the flag
            piece = decoder.push(item)
            if piece:
                yield piece
        if failure:
            raise failure[0]
        if not stop.is_set():
            rest = decoder.flush()
            if rest:
                yield rest
    finally:
        if stats.finished_at is None:
            stop.set()  # the caller closed us before the end (interrupted turn)
        stats.stopped_early = stop.is_set()
        worker.join(timeout=30)
        if stats.finished_at is None:
            stats.finished_at = time.perf_counter()

"""Dialogue backend ``chatglm``: a local ChatGLM / GLM / causal LM with the persona's P-tuning.

Loading (``model_loader.py``): the folder in ``dialogue.chatglm.model_dir``; the
P-tuning in ``dialogue.chatglm.ptuning_dir`` (THUDM P-tuning v2 checkpoint or peft
adapter, see ``ptuning_checkpoint.py``).  Prompt (``prompt_format.py``):
ChatGLM's round format for ChatGLM-6B folders, the chat template otherwise,
with the persona's system prompt (or the one the P-tuning was trained with).
History is kept within ``dialogue.chatglm.history_tokens`` (``history.py``).  Tokens
stream out as ``TextChunk(mode="llm")`` while generation continues
(``streaming.py``); an interrupted turn stops generating at once.
"""

from __future__ import annotations

import gc
import logging
from typing import Iterator

from ..messages import Message, TextChunk, UserTurn
from ..optional import require
from ..persona import Persona
from ..settings import ChatGLMSettings
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv
from .history import ChatHistory
from .prompt_format import PromptFormat
from .retrieval import EMPTY_EN, EMPTY_ZH
from .streaming import GenerationStats, stream_generate

log = logging.getLogger(__name__)


class ChatGLMDialogue(Stage):
    name = "dialogue"
    backend = "chatglm"

    settings_section = "dialogue.chatglm"

    def __init__(self, cfg: ChatGLMSettings, persona: Persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.loaded = None
        self.format: PromptFormat | None = None
        self.history: ChatHistory | None = None
        self.last_stats: GenerationStats | None = None

    # -- loading -----------------------------------------------------------
    def load(self) -> None:
        from .model_loader import ModelLoadError, load_for_chat

        ds = self.cfg
        if not ds.model_dir:
            raise ModelLoadError(
                "dialogue.chatglm.model_dir is empty: the chatglm backend needs a local model folder "
                "(e.g. module/chatglm-6b or a GLM-4 folder); or use dialogue.backend=retrieval"
            )
        ptuning = self.env.resolve(ds.ptuning_dir) if ds.ptuning_dir else None
        self.loaded = load_for_chat(
            ds,
            self.env.resolve(ds.model_dir),
            ptuning,
            device=self.env.device,
            threads=self.env.threads,
        )
        meta = self.loaded.adapter.meta if self.loaded.adapter else {}
        system = meta.get("system_prompt", self.persona.system_prompt) if meta else self.persona.system_prompt
        tok = self.loaded.tokenizer
        self.format = PromptFormat(self.loaded.prompt_format, tok, system)
        self.history = ChatHistory(ds.history_tokens, lambda text: len(tok(text, add_special_tokens=False).input_ids))
        self.backend = f"chatglm ({self.loaded.describe()})"
        log.info("dialogue model: %s, prompt format %s", self.loaded.describe(), self.format.kind)

    # -- helpers -----------------------------------------------------------
    def eos_token_ids(self) -> list[int]:
        ids: list[int] = list(getattr(self.loaded, "stop_ids", None) or [])
        gen_cfg = getattr(self.loaded.model, "generation_config", None)
        for source in (getattr(gen_cfg, "eos_token_id", None), self.loaded.tokenizer.eos_token_id):
            if source is None:
                continue
            for i in source if isinstance(source, (list, tuple)) else [source]:
                if i not in ids:
                    ids.append(int(i))
        return ids

    def encode_prompt(self, query: str):
        torch = require("torch", purpose="the chatglm dialogue backend")
        tok = self.loaded.tokenizer
        head: list[int] = []
        if hasattr(tok, "specials") and self.format.kind in ("chatglm", "chatglm2", "chatglm3"):
            ids = self.format.build_ids(query, self.history.window())  # our THUDM tokenizers
            if self.format.kind != "chatglm":
                head, ids = ids[:2], ids[2:]  # [gMASK] sop stay in front when cut
        else:
            text = self.format.build(query, self.history.window())
            add_special = self.format.kind in ("chatglm", "chatglm2")  # THUDM tokenizers add [gMASK]<sop>
            ids = tok(text, add_special_tokens=add_special).input_ids
        limit = self._context_limit() - self.cfg.max_new_tokens - len(head)
        if limit > 0 and len(ids) > limit:
            ids = ids[-limit:]  # the newest words matter most
        ids = head + ids
        return torch.tensor([ids], dtype=torch.long)

    def _context_limit(self) -> int:
        cfg = self.loaded.config
        for key in ("max_position_embeddings", "seq_length", "max_sequence_length", "n_positions"):
            if cfg.get(key):
                return int(cfg[key])
        return 2048

    # -- stage contract ----------------------------------------------------
    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, UserTurn):
            return
        if self.loaded is None:
            self.load()
        query = msg.text.strip()
        ctx.info["dialogue_mode"] = "llm"
        if not query:
            yield TextChunk(msg.turn_id, text=EMPTY_ZH if self.persona.language == "zh" else EMPTY_EN, mode="llm")
            return
        ds = self.cfg
        stats = GenerationStats()
        self.last_stats = stats
        reply = []
        pieces = stream_generate(
            self.loaded.model,
            self.loaded.tokenizer,
            self.encode_prompt(query),
            max_new_tokens=ds.max_new_tokens,
            temperature=ds.temperature,
            top_p=ds.top_p,
            eos_token_ids=self.eos_token_ids(),
            should_stop=lambda: ctx.cancelled,
            stats=stats,
        )
        try:
            for piece in pieces:
                reply.append(piece)
                yield TextChunk(msg.turn_id, text=piece, mode="llm")
        finally:
            pieces.close()  # stops generate() if the worker closed us (interrupt)
            ctx.info.update(
                {
                    "dialogue_tokens": stats.new_tokens,
                    "dialogue_first_token_s": stats.time_to_first_token,
                    "dialogue_tokens_per_s": stats.tokens_per_second,
                }
            )
        if not ctx.cancelled and not stats.stopped_early:
            text = "".join(reply).strip()
            self.history.add(query, text)
            ctx.info["dialogue_reply"] = text

    def reset(self) -> None:
        if self.history is not None:
            self.history.clear()

    def restore_history(self, rounds) -> None:
        if self.history is not None:
            for query, answer in rounds:
                self.history.add(query, answer)  # trimmed to the token budget as usual

    def close(self) -> None:
        self.loaded = None
        gc.collect()

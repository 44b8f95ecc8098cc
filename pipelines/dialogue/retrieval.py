"""Dialogue backend ``retrieval``: reply with the best-matching line of the persona's chat log.

The embedded default needs no model weights: the user's message is matched
against every ``prompt`` of the chat log with a character n-gram TF-IDF index
(``text_index.py``, so Chinese works without a segmenter).  Follow-ups such as
"为什么？" are told apart by a light second score: how well the conversation so
far matches the example's own ``history``.  The reply is streamed in pieces of
1–4 characters, like an LLM, as ``TextChunk(mode="retrieval")``.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Iterator

import numpy as np

from ..messages import Message, TextChunk, UserTurn
from ..persona import Persona
from ..settings import RetrievalSettings
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv
from .chat_data import ChatDataError, ChatExample, load_chat_log
from .text_index import TfidfIndex, is_chinese

log = logging.getLogger(__name__)

#: a prompt must reach this cosine with the user's message to be used
MIN_SCORE = 0.2
#: weight of the conversation-history match in the ranking
HISTORY_WEIGHT = 0.3
#: how many past rounds are compared with an example's history
CONTEXT_ROUNDS = 2

FALLBACK_ZH = "抱歉，这个问题我还不太会回答。你可以换个说法，或者问问我能做什么。"
FALLBACK_EN = "Sorry, I don't know how to answer that yet. Try asking another way, or ask me what I can do."
EMPTY_ZH = "你想聊点什么呢？"
EMPTY_EN = "What would you like to talk about?"


def stream_pieces(text: str, rng: random.Random) -> Iterator[str]:
    """Cut ``text`` into pieces of 1-4 characters."""
    i = 0
    while i < len(text):
        n = rng.randint(1, 4)
        yield text[i : i + n]
        i += n


class RetrievalDialogue(Stage):
    name = "dialogue"
    backend = "retrieval"

    settings_section = "dialogue.retrieval"

    def __init__(self, cfg: RetrievalSettings, persona: Persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.examples: list[ChatExample] = []
        self.history: list[tuple[str, str]] = []
        self._prompt_index: TfidfIndex | None = None
        self._history_index: TfidfIndex | None = None
        self._has_history = np.zeros(0, dtype=bool)
        self.report = None

    # -- loading -----------------------------------------------------------
    def load(self) -> None:
        if self.persona.chat_log is None:
            raise ChatDataError(
                f"persona '{self.persona.name}' ({self.persona.root}) has no chat log: add a chat.jsonl "
                f"(JSON lines with 'prompt', 'response', 'history') or choose the 'chatglm' dialogue backend"
            )
        self.examples, self.report = load_chat_log(self.persona.chat_log)
        if self.report.problems:
            log.warning("chat log has problems; bad records skipped:\n%s", self.report.summary())
        self._prompt_index = TfidfIndex([e.prompt for e in self.examples])
        hist_texts = [" ".join(q + " " + a for q, a in e.history) for e in self.examples]
        self._history_index = TfidfIndex(hist_texts)
        self._has_history = np.array([bool(e.history) for e in self.examples], dtype=bool)

    # -- matching ----------------------------------------------------------
    def match(self, text: str) -> tuple[ChatExample | None, float]:
        """The best example for ``text`` given the kept history, and its prompt score."""
        if self._prompt_index is None:
            self.load()
        prompt_scores = self._prompt_index.scores(text)
        if not len(prompt_scores):
            return None, 0.0
        rank = prompt_scores.copy()
        if self.history:
            context = " ".join(q + " " + a for q, a in self.history[-CONTEXT_ROUNDS:])
            rank += HISTORY_WEIGHT * self._history_index.scores(context)
        else:
            # a fresh conversation: prefer examples that do not presuppose one
            rank -= 0.05 * self._has_history
        best = int(np.argmax(rank))
        score = float(prompt_scores[best])
        if score < MIN_SCORE:
            return None, score
        return self.examples[best], score

    def reply_for(self, text: str) -> tuple[str, ChatExample | None, float]:
        if not text.strip():
            return (EMPTY_ZH if self.persona.language == "zh" else EMPTY_EN), None, 0.0
        example, score = self.match(text)
        if example is None:
            chinese = is_chinese(text) or (not any(c.isalpha() for c in text) and self.persona.language == "zh")
            return (FALLBACK_ZH if chinese else FALLBACK_EN), None, score
        return example.response, example, score

    # -- stage contract ----------------------------------------------------
    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, UserTurn):
            return
        reply, example, score = self.reply_for(msg.text)
        ctx.info.update(
            {
                "dialogue_mode": "retrieval",
                "dialogue_score": round(score, 4),
                "dialogue_match": example.prompt if example else None,
                "dialogue_fallback": example is None,
            }
        )
        delay = max(0, self.cfg.stream_delay_ms) / 1000.0
        rng = random.Random(msg.turn_id)
        first = True
        for piece in stream_pieces(reply, rng):
            if ctx.cancelled:
                return  # interrupted: the partial reply is not kept in the history
            if not first and delay:
                time.sleep(delay)
            yield TextChunk(msg.turn_id, text=piece, mode="retrieval")
            first = False
        if not ctx.cancelled:
            self.history.append((msg.text.strip(), reply))
            ctx.info["dialogue_reply"] = reply

    def reset(self) -> None:
        self.history.clear()

    def restore_history(self, rounds) -> None:
        self.history = [(str(q).strip(), str(a)) for q, a in rounds]

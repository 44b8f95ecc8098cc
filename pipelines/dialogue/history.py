"""Conversation history kept within a token budget (oldest rounds dropped first)."""

from __future__ import annotations

from typing import Callable

Round = tuple[str, str]


class ChatHistory:
    def __init__(self, budget_tokens: int, count_tokens: Callable[[str], int], low_water: float = 1.0) -> None:
        """``low_water`` < 1: once over the budget, drop the oldest rounds down to that share of it
        (whole rounds, a few at a time, so a kept KV cache of the prompt's front stays valid longer)."""
        self.budget = max(0, int(budget_tokens))
        self.low_water = min(1.0, max(0.0, float(low_water)))
        self.count = count_tokens
        self.rounds: list[Round] = []
        self._sizes: list[int] = []

    def add(self, query: str, answer: str) -> None:
        self.rounds.append((query, answer))
        self._sizes.append(self.count(f"{query}\n{answer}\n"))
        self._trim()

    def _trim(self) -> None:
        if sum(self._sizes) <= self.budget:
            return
        while self.rounds and sum(self._sizes) > self.budget * self.low_water:
            self.rounds.pop(0)
            self._sizes.pop(0)

    def window(self) -> list[Round]:
        """The rounds to put in the next prompt."""
        return list(self.rounds)

    @property
    def tokens(self) -> int:
        return sum(self._sizes)

    def clear(self) -> None:
        self.rounds.clear()
        self._sizes.clear()

    def __len__(self) -> int:
        return len(self.rounds)

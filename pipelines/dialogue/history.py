"""Conversation history kept within a token budget (oldest rounds dropped first)."""

from __future__ import annotations

from typing import Callable

Round = tuple[str, str]


class ChatHistory:
    def __init__(self, budget_tokens: int, count_tokens: Callable[[str], int]) -> None:
        self.budget = max(0, int(budget_tokens))
        self.count = count_tokens
        self.rounds: list[Round] = []
        self._sizes: list[int] = []

    def add(self, query: str, answer: str) -> None:
        self.rounds.append((query, answer))
        self._sizes.append(self.count(f"{query}\n{answer}\n"))
        self._trim()

    def _trim(self) -> None:
        while self.rounds and sum(self._sizes) > self.budget:
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

"""Per-turn output numbering for stages that emit zero or more messages per input."""
from __future__ import annotations


class TurnSeq:
    """``next(turn_id)`` gives 0, 1, 2, ... within each turn; ``forget`` drops a turn's counter."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}

    def next(self, turn_id: int) -> int:
        seq = self._next.get(turn_id, 0)
        self._next[turn_id] = seq + 1
        return seq

    def forget(self, turn_id: int | None = None) -> None:
        if turn_id is None:
            self._next.clear()
        else:
            self._next.pop(turn_id, None)

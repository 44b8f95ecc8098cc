"""Cut a streamed reply into speakable sentences as it arrives.

Rules (Chinese, English and mixed text):
- a sentence ends at strong punctuation (。！？!?；;… and newlines, and '.' when
  it is not inside a number such as 3.14);
- the first sentence of a turn may also end at a comma (，,、：:) so the voice
  starts early; it must still be at least ``min_chars`` long, so the first
  chunk is short but never a single character;
- pieces shorter than ``min_chars`` wait and join the next one;
- text with no punctuation is cut at ``max_chars`` (at a space where there is one);
- the rest is flushed when the turn ends.
"""

from __future__ import annotations

import re
from typing import Iterator

from .messages import Sentence, TextChunk
from .stage import Stage, TurnContext

STRONG = set("。！？!?；;…\n")
WEAK = set("，,、：:")
CLOSERS = set("”’\"')）」』】》")
_SPEAKABLE = re.compile(r"[\w\u4e00-\u9fff]")


def speakable(text: str) -> bool:
    return bool(_SPEAKABLE.search(text))


class SentenceSplitter:
    """Incremental splitter: ``feed`` text pieces, get finished sentences back."""

    def __init__(self, min_chars: int = 6, max_chars: int = 80) -> None:
        self.min_chars = max(1, min_chars)
        self.max_chars = max(self.min_chars + 1, max_chars)
        self.buf = ""
        self.emitted = 0

    def _length(self, text: str) -> int:
        return len(text.strip())

    def _cut_at(self, i: int) -> str:
        """Take buf[:i+1] plus any closing quotes that follow."""
        j = i + 1
        while j < len(self.buf) and self.buf[j] in CLOSERS:
            j += 1
        piece, self.buf = self.buf[:j], self.buf[j:]
        return piece

    def _next_cut(self, final: bool) -> int | None:
        for i, ch in enumerate(self.buf):
            strong = ch in STRONG
            if ch == ".":
                nxt = self.buf[i + 1] if i + 1 < len(self.buf) else None
                if nxt is None and not final:
                    return None  # could be "3." of "3.14": wait for more text
                prev = self.buf[i - 1] if i > 0 else ""
                strong = not (prev.isdigit() and nxt is not None and nxt.isdigit()) and nxt != "."
            weak = ch in WEAK and self.emitted == 0
            if ch in (",",) and weak:
                nxt = self.buf[i + 1] if i + 1 < len(self.buf) else None
                prev = self.buf[i - 1] if i > 0 else ""
                if prev.isdigit() and (nxt is None or nxt.isdigit()):
                    weak = False  # 1,000
            if (strong or weak) and self._length(self.buf[: i + 1]) >= self.min_chars:
                return i
        if self._length(self.buf) >= self.max_chars:
            window = self.buf[: self.max_chars]
            space = window.rfind(" ")
            return space if space >= self.min_chars else self.max_chars - 1
        return None

    def feed(self, text: str) -> list[str]:
        self.buf = (self.buf + text).lstrip("".join(STRONG | WEAK) + " \t")
        out = []
        while (i := self._next_cut(final=False)) is not None:
            out.append(self._cut_at(i))
        return self._clean(out)

    def flush(self) -> list[str]:
        out = []
        while (i := self._next_cut(final=True)) is not None:
            out.append(self._cut_at(i))
        if self.buf.strip():
            out.append(self.buf)
        self.buf = ""
        sentences = self._clean(out)
        self.emitted = 0
        return sentences

    def _clean(self, pieces: list[str]) -> list[str]:
        result = []
        for p in pieces:
            p = p.strip()
            if not speakable(p):
                continue
            result.append(p)
            self.emitted += 1
        return result


class SplitterStage(Stage):
    """TextChunk stream -> Sentence messages."""

    name = "splitter"
    backend = "punctuation"

    def __init__(self, min_chars: int = 6, max_chars: int = 80) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._splitters: dict[int, SentenceSplitter] = {}

    def _for(self, turn_id: int) -> SentenceSplitter:
        return self._splitters.setdefault(turn_id, SentenceSplitter(self.min_chars, self.max_chars))

    def _emit(self, turn_id: int, texts: list[str]) -> Iterator[Sentence]:
        for t in texts:
            yield Sentence(turn_id, t)

    def process(self, msg, ctx: TurnContext):
        if isinstance(msg, TextChunk):
            if msg.mode:
                ctx.info["mode"] = msg.mode
            yield from self._emit(msg.turn_id, self._for(msg.turn_id).feed(msg.text))

    def end_turn(self, ctx: TurnContext):
        splitter = self._splitters.pop(ctx.turn_id, None)
        texts = splitter.flush() if splitter else []
        return list(self._emit(ctx.turn_id, texts))

    def cancel_turn(self, turn_id: int) -> None:
        self._splitters.pop(turn_id, None)

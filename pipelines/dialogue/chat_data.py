"""Read chat logs in DL-B / THUDM P-tuning format, with a report of what was wrong.

Accepted input (UTF-8):

- JSON lines: one object per line, e.g.
  ``{"prompt": "你好", "response": "你好呀！", "history": [["q", "a"], ...]}``
  (blank lines are ignored);
- a JSON array of such objects.

The column names are configurable like THUDM's ``--prompt_column`` /
``--response_column`` / ``--history_column``; ``history_column=""`` ignores
history.  Bad records never stop the whole file: each is skipped and reported
with its line number and what is wrong, so retrieval, fine-tuning and the GUI's
fine-tuning page can show one summary before anything starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ChatDataError(ValueError):
    """The chat log cannot be used at all (missing, unreadable, nothing valid in it)."""


@dataclass(frozen=True)
class ChatExample:
    prompt: str
    response: str
    history: tuple[tuple[str, str], ...] = ()
    line: int = 0  # 1-based line in the source file where the record starts (0: unknown)


@dataclass(frozen=True)
class LineProblem:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass
class ChatDataReport:
    source: str = "<text>"
    kept: int = 0
    skipped: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    with_history: int = 0

    def summary(self, max_problems: int = 20) -> str:
        head = f"{self.source}: {self.kept} example(s) kept ({self.with_history} with history), {self.skipped} skipped"
        lines = [head]
        for p in self.problems[:max_problems]:
            lines.append(f"  {p}")
        if len(self.problems) > max_problems:
            lines.append(f"  ... and {len(self.problems) - max_problems} more problem(s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kept": self.kept,
            "skipped": self.skipped,
            "with_history": self.with_history,
            "problems": [{"line": p.line, "problem": p.problem} for p in self.problems],
        }


@dataclass(frozen=True)
class Columns:
    prompt: str = "prompt"
    response: str = "response"
    history: str = "history"  # "" = no history column


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _records(text: str, report: ChatDataReport) -> list[tuple[int, Any]]:
    """(line, decoded value) for every record of a JSON-lines or JSON-array text."""
    stripped = text.lstrip("\ufeff \t\r\n")
    offset = len(text) - len(stripped)
    out: list[tuple[int, Any]] = []
    if stripped.startswith("["):
        dec = json.JSONDecoder()
        i = offset + 1
        n = len(text)
        while True:
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i >= n:
                report.problems.append(LineProblem(_line_of(text, i), "JSON array is not closed with ']'"))
                break
            if text[i] == "]":
                break
            try:
                value, end = dec.raw_decode(text, i)
            except json.JSONDecodeError as exc:
                report.problems.append(
                    LineProblem(
                        exc.lineno,
                        f"invalid JSON in the array ({exc.msg}, column {exc.colno}); the rest of the file was not read",
                    )
                )
                report.skipped += 1
                break
            out.append((_line_of(text, i), value))
            i = end
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i < n and text[i] == ",":
                i += 1
            elif i < n and text[i] != "]":
                report.problems.append(
                    LineProblem(
                        _line_of(text, i), "expected ',' or ']' between records; the rest of the file was not read"
                    )
                )
                break
        return out
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            out.append((no, json.loads(line)))
        except json.JSONDecodeError as exc:
            report.problems.append(LineProblem(no, f"invalid JSON ({exc.msg}, column {exc.colno})"))
            report.skipped += 1
    return out


def _text_field(rec: dict, key: str, role: str) -> tuple[str | None, str | None]:
    if key not in rec:
        present = ", ".join(sorted(map(str, rec))) or "none"
        return None, f"no '{key}' field ({role}); fields present: {present}"
    value = rec[key]
    if not isinstance(value, str):
        return None, f"'{key}' must be a string, got {type(value).__name__}"
    if not value.strip():
        return None, f"'{key}' is empty"
    return value.strip(), None


def _history(rec: dict, key: str) -> tuple[tuple[tuple[str, str], ...] | None, str | None]:
    if not key or rec.get(key) is None:
        return (), None
    value = rec[key]
    if not isinstance(value, list):
        return None, f"'{key}' must be a list of [question, answer] pairs, got {type(value).__name__}"
    pairs = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            return (
                None,
                f"'{key}'[{i}] must be a [question, answer] pair of strings, got {json.dumps(pair, ensure_ascii=False)[:60]}",
            )
        pairs.append((pair[0].strip(), pair[1].strip()))
    return tuple(pairs), None


def parse_chat_text(
    text: str, columns: Columns = Columns(), source: str = "<text>"
) -> tuple[list[ChatExample], ChatDataReport]:
    """Examples and a report from the text of a chat log."""
    report = ChatDataReport(source=source)
    examples: list[ChatExample] = []
    for line, rec in _records(text, report):
        problem = None
        if not isinstance(rec, dict):
            problem = f"expected a JSON object, got {type(rec).__name__}"
        else:
            prompt, problem = _text_field(rec, columns.prompt, "the user's message")
            if problem is None:
                response, problem = _text_field(rec, columns.response, "the reply")
            if problem is None:
                history, problem = _history(rec, columns.history)
        if problem is not None:
            report.problems.append(LineProblem(line, problem))
            report.skipped += 1
            continue
        examples.append(ChatExample(prompt, response, history, line))
        report.with_history += bool(history)
    report.kept = len(examples)
    report.problems.sort(key=lambda p: p.line)
    return examples, report


def load_chat_log(
    path: str | Path,
    prompt_column: str = "prompt",
    response_column: str = "response",
    history_column: str = "history",
    require_examples: bool = True,
) -> tuple[list[ChatExample], ChatDataReport]:
    """Examples and a report from a chat-log file.

    Raises ``ChatDataError`` when the file is missing or unreadable, or (with
    ``require_examples``) when not a single record is usable.
    """
    p = Path(path)
    if not p.is_file():
        raise ChatDataError(
            f"{p}: chat log not found. Give a JSON-lines file with '{prompt_column}' and '{response_column}' fields."
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ChatDataError(f"{p}: not UTF-8 text (byte {exc.start}); save the chat log as UTF-8.") from exc
    examples, report = parse_chat_text(text, Columns(prompt_column, response_column, history_column), str(p))
    if require_examples and not examples:
        raise ChatDataError(
            f"no usable examples in the chat log.\n{report.summary()}\n"
            f"Each record needs '{prompt_column}' and '{response_column}' strings "
            f"(column names can be changed, like THUDM's --prompt_column/--response_column)."
        )
    return examples, report

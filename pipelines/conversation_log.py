"""Append-only JSONL log of the conversation: one line per finished turn.

Each line is appended whole or not at all: a short ``write`` (a full disk) is
continued, and on failure the file is truncated back to where the line began,
so the log only ever holds whole lines.  A crash loses at most the turn in
progress; a torn last line (power cut mid-write) is skipped when reading and
never glued to the next record.  A failure is reported once (``first``) until
a write succeeds again.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Any


class ConversationLogError(OSError):
    """The record was not logged (the file is unchanged); ``first``: the first failure in a row."""

    first = True


class ConversationLog:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._failing = False

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            try:
                self._append(data)
            except OSError as exc:
                err = ConversationLogError(exc.errno, exc.strerror or str(exc), str(self.path))
                err.first = not self._failing
                self._failing = True
                raise err from None
            self._failing = False

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            start = os.fstat(fd).st_size
            if start and os.pread(fd, 1, start - 1) != b"\n":
                data = b"\n" + data  # close a torn line so this record stays whole
            written = 0
            try:
                while written < len(data):
                    n = os.write(fd, data[written:])
                    if n <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    written += n
                os.fsync(fd)
            except OSError:
                if written:
                    try:
                        os.ftruncate(fd, start)
                    except OSError:
                        pass
                raise
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line from a crash mid-write
        return out

"""A full disk: the conversation log keeps whole lines or nothing, and says so once."""

from __future__ import annotations

import json
import os

from pipelines.conversation_log import ConversationLog, ConversationLogError


def test_full_disk_writes_whole_lines_or_nothing(tiny_tmpfs):
    log = ConversationLog(tiny_tmpfs / "conversation.jsonl")
    filler = tiny_tmpfs / "filler.bin"
    record = {"turn_id": 0, "reply": "x" * 3000}
    written = 0
    failures = []
    for i in range(40):  # 40 x 3 kB > 64 kB: the disk fills part-way through a record
        record["turn_id"] = i
        try:
            log.append(record)
            written += 1
        except ConversationLogError as exc:
            failures.append(exc)
    assert failures, "the tmpfs never filled up"
    assert failures[0].first and not any(f.first for f in failures[1:]), "reported more than once"
    raw = log.path.read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.decode().splitlines()
    assert len(lines) == written and [json.loads(ln)["turn_id"] for ln in lines] == list(range(written))
    # free the space: the next record is whole and not glued to anything
    with open(filler, "wb"):
        pass
    filler.unlink()
    log.path.write_bytes(raw[: len(raw) // 2])  # and simulate a torn line from an earlier crash
    log.append({"turn_id": 99})
    got = log.read()
    assert got[-1] == {"turn_id": 99}
    assert log.path.read_bytes().endswith(b'{"turn_id": 99}\n')


def test_short_writes_are_continued(tmp_path, monkeypatch):
    """os.write may write only part of the buffer: the rest must follow, not be dropped."""
    import pipelines.conversation_log as cl

    real_write = os.write

    def short_write(fd, data):
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr(cl.os, "write", short_write)
    log = ConversationLog(tmp_path / "c.jsonl")
    log.append({"turn_id": 1, "reply": "你好，世界"})
    log.append({"turn_id": 2})
    assert [r["turn_id"] for r in log.read()] == [1, 2]

"""output.keep_mb: turn videos beyond a size budget go oldest first; nothing the user keeps is touched."""

from __future__ import annotations

import os
import time

from pipelines.settings import Settings
from pipelines.sinks import FileSink

from .helpers import run_cli


def turn_file(folder, i, age_s, size):
    p = folder / f"turn-20260101-0000{i:02d}-{i:03d}.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * (size - 12))
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


def test_prune_by_size_removes_the_oldest_until_under_budget(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    turns = [turn_file(out, i, 100 - i, 400_000) for i in range(5)]  # 2.0 MB in all, turns[4] newest
    user = out / "reply.mp4"  # an --out file: big, old, never counted nor removed
    user.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 5_000_000)
    os.utime(user, (0, 0))
    other = out / "turn-final-cut.mp4"
    other.write_bytes(b"mine")
    os.utime(other, (0, 0))
    removed = FileSink(out, keep_mb=1.0).prune(0, keep_bytes=1_000_000)
    assert sorted(removed) == sorted(turns[:3]), removed  # 2 left = 0.8 MB <= 1 MB
    assert all(t.exists() for t in turns[3:])
    assert user.exists() and other.exists()


def test_prune_by_size_keeps_the_newest_even_if_it_alone_is_too_big(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    old = turn_file(out, 1, 50, 3000)
    new = turn_file(out, 2, 10, 3000)
    removed = FileSink(out).prune(0, keep_bytes=1000)
    assert removed == [old] and new.exists()


def test_count_and_size_limits_both_apply(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    turns = [turn_file(out, i, 100 - i, 1000) for i in range(6)]
    removed = FileSink(out).prune(4, keep_bytes=2500)  # count leaves 4 (4000 B), size then leaves 2
    assert sorted(removed) == sorted(turns[:4])


def test_keep_mb_is_a_setting_and_validated():
    assert Settings.from_dict({"output": {"keep_mb": 250}}).output.keep_mb == 250
    assert Settings().output.keep_mb == 0
    proc = run_cli(["main_demo.py", "--output.keep_mb", "-1", "--text", "hi"])
    assert proc.returncode == 2 and "output.keep_mb" in proc.stderr, proc.stderr


def test_demo_with_a_tiny_keep_mb_keeps_only_the_last_turn(tmp_path):
    out = tmp_path / "out"
    proc = run_cli(
        ["main_demo.py", "--json", "--output_dir", str(out), "--output.keep_mb", "0.001"]
        + ["--text", "你好", "--text", "What can you do?"]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    videos = sorted(out.glob("turn-*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
    assert (out / "conversation.jsonl").is_file()

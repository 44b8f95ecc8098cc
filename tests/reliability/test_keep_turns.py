"""output.keep_turns: the oldest of the engine's own turn videos go; nothing the user keeps is touched."""

from __future__ import annotations

import json
import os
import time

from pipelines.settings import Settings
from pipelines.sinks import FileSink

from .helpers import run_cli


def turn_file(folder, i, age_s):
    p = folder / f"turn-20260101-0000{i:02d}-{i:03d}.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypisom")
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


def test_prune_keeps_the_newest_and_never_touches_user_files(tmp_path):
    out = tmp_path / "output"
    out.mkdir()
    turns = [turn_file(out, i, 100 - i) for i in range(5)]  # turns[4] is the newest
    saved = tmp_path / "kept-elsewhere.mp4"
    os.link(turns[0], saved)  # the user saved the oldest one elsewhere
    user = [out / "reply.mp4", out / "turn-final-cut.mp4", out / "conversation.jsonl"]
    for u in user:
        u.write_bytes(b"mine")
        os.utime(u, (0, 0))
    removed = FileSink(out, keep_turns=2).prune(2)
    assert sorted(removed) == sorted(turns[1:3])
    assert turns[0].exists() and saved.exists(), "a file with a second link was removed"
    assert turns[3].exists() and turns[4].exists()
    assert all(u.exists() for u in user)


def test_keep_turns_is_a_setting_and_validated():
    s = Settings.from_dict({"output": {"keep_turns": 3}})
    assert s.output.keep_turns == 3
    proc = run_cli(["main_demo.py", "--output.keep_turns", "-2", "--text", "hi"])
    assert proc.returncode == 2 and "output.keep_turns" in proc.stderr, proc.stderr


def test_demo_with_keep_turns_keeps_only_the_last_turn(tmp_path):
    out = tmp_path / "out"
    proc = run_cli(
        [
            "main_demo.py",
            "--json",
            "--output_dir",
            str(out),
            "--output.keep_turns",
            "1",
            "--text",
            "你好",
            "--text",
            "What can you do?",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    turns = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(turns) == 2
    videos = sorted(p.name for p in out.glob("turn-*.mp4"))
    assert videos == [os.path.basename(turns[-1]["video_path"])]
    assert (out / "conversation.jsonl").is_file()

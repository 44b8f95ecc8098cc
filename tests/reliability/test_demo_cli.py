"""main_demo.py: refuses what it must not write before any model loads; piped lines become turns."""

from __future__ import annotations

import json
import subprocess

import pytest

from .helpers import ROOT, one_error_line, run_cli


def demo(tmp_path, *args, stdin=None):
    return run_cli(["main_demo.py", "--output_dir", str(tmp_path / "out"), *args], stdin=stdin)


def test_out_onto_the_conversation_log_is_refused_and_the_log_kept(tmp_path):
    log = tmp_path / "conversation.jsonl"
    log.write_text('{"turn": 1}\n')
    line = one_error_line(demo(tmp_path, "--text", "hi", "--out", str(log)))
    assert "not an MP4" in line and "new file name" in line, line
    assert log.read_text() == '{"turn": 1}\n'


def test_out_that_is_a_folder_is_refused(tmp_path):
    line = one_error_line(demo(tmp_path, "--text", "hi", "--out", str(tmp_path)))
    assert "is a folder" in line, line


def test_out_inside_source_is_refused(tmp_path):
    target = ROOT / "source" / "default" / "reply-from-test.mp4"
    line = one_error_line(demo(tmp_path, "--text", "hi", "--out", str(target)))
    assert "persona folders" in line, line
    assert not target.exists()


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--text", "hi", "--timeout", "-1"], "--timeout must be a positive"),
        (["--text", "   "], "--text is empty"),
        (["--text", ""], "--text is empty"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, args, expect):
    line = one_error_line(demo(tmp_path, *args))
    assert expect in line, line


def test_output_dir_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli(["main_demo.py", "--output_dir", str(blocker / "sub"), "--text", "hi"])
    line = one_error_line(proc)
    assert "output_dir" in line and "not writable" in line, line
    proc = run_cli(["main_demo.py", "--output_dir", str(blocker), "--text", "hi"])
    assert "is a file" in one_error_line(proc)


def test_piped_lines_become_one_turn_each(tmp_path):
    proc = demo(tmp_path, "--json", stdin="你好\n\n  \nWhat can you do?\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    turns = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert [t["user_text"] for t in turns] == ["你好", "What can you do?"]
    assert all(t["status"] == "ok" for t in turns)


def test_nothing_piped_still_runs_the_scripted_demo_flag_free(tmp_path):
    """/dev/null on stdin: no lines, so the scripted turns run (the old behaviour)."""
    import sys

    from main_demo import SCRIPTED, piped_lines  # noqa: F401  (import proves the module stays importable)

    saved = sys.stdin
    try:
        with open("/dev/null") as fh:
            sys.stdin = fh
            assert piped_lines() is None
    finally:
        sys.stdin = saved
    assert subprocess.DEVNULL is not None


def test_full_output_dir_during_a_turn_is_one_clear_line_per_failure(tiny_tmpfs):
    (tiny_tmpfs / "fill").write_bytes(b"\0" * (64 * 1024 - 4096))
    try:
        with open(tiny_tmpfs / "fill2", "wb") as fh:
            fh.write(b"\0" * 65536)
    except OSError:
        pass  # full now
    proc = run_cli(["main_demo.py", "--text", "你好", "--output_dir", str(tiny_tmpfs)])
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err) <= 2, proc.stderr  # the stage failure, and the log failure (once)
    assert "the disk is full: free some space" in proc.stderr, proc.stderr
    assert not list(tiny_tmpfs.glob(".turn-*.partial.mp4")), "the partial video was left behind"


def test_later_turns_step_over_user_files_next_to_out(tmp_path):
    from pipelines.sinks import FileSink

    out = tmp_path / "reply.mp4"
    notes = tmp_path / "reply-2.mp4"
    notes.write_text("my notes, not a video")
    (tmp_path / "reply-3.mp4").mkdir()
    sink = FileSink(tmp_path, out)
    assert sink._path_for(1) == out
    assert sink._path_for(2) == tmp_path / "reply-4.mp4"
    assert notes.read_text() == "my notes, not a video"


def test_read_only_out_and_output_dir_are_one_line(readonly_dir, tmp_path):
    line = one_error_line(run_cli(["main_demo.py", "--text", "hi", "--output_dir", str(readonly_dir)]))
    assert "output_dir" in line and "not writable" in line and "Read-only" in line, line
    line = one_error_line(demo(tmp_path, "--text", "hi", "--out", str(readonly_dir / "reply.mp4")))
    assert "the folder of --out" in line and "not writable" in line, line

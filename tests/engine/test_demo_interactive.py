"""main_demo.py on a terminal: an interactive loop ('clear' clears history, 'stop' quits)."""

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def read_until(fd, needle: bytes, timeout: float) -> bytes:
    buf = b""
    end = time.time() + timeout
    while needle not in buf:
        left = end - time.time()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got:\n{buf.decode(errors='replace')}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_interactive_loop_on_a_terminal(tmp_path):
    try:
        master, slave = pty.openpty()
    except OSError as exc:  # e.g. a chroot or container without /dev/pts mounted
        pytest.skip(f"no pseudo-terminal can be opened here ({exc}): mount devpts to run this test")
    proc = subprocess.Popen(
        [sys.executable, "main_demo.py", "--output_dir", str(tmp_path)],
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )  # the prompt goes to stderr
    os.close(slave)
    try:
        read_until(master, b"you> ", 300)
        os.write(master, "你好\n".encode())
        out = read_until(master, b"you> ", 300)
        assert b"video:" in out and b".mp4" in out
        os.write(master, b"clear\n")
        assert b"history cleared" in read_until(master, b"you> ", 60)
        os.write(master, b"stop\n")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    log = (tmp_path / "conversation.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(log) == 1

"""Run the project's command-line tools as a user would: the venv python, a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    args: list[str], cwd: Path | None = None, stdin: str | None = None, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=str(cwd or ROOT),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a refused command (asserts: non-zero rc, one line, no traceback)."""
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(err) == 1, proc.stderr
    return err[0]

"""finetune / voice-train --out that is a file or cannot be created: one line, before any model loads."""

from __future__ import annotations

import pytest

from .helpers import ROOT, one_error_line, run_cli


@pytest.fixture
def blocker(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("user data\n")
    return f


def finetune(out, tmp_path):
    return run_cli(
        [
            "-m",
            "pipelines",
            "finetune",
            "--data",
            str(ROOT / "source" / "default" / "chat.jsonl"),
            "--base",
            str(tmp_path / "no-model"),
            "--out",
            str(out),
            "--steps",
            "1",
        ]
    )


def voice_train(out, tmp_path):
    (tmp_path / "clips").mkdir(exist_ok=True)
    cv = tmp_path / "checkpoint_best_legacy_500.pt"
    cv.write_bytes(b"x")
    return run_cli(
        [
            "-m",
            "pipelines",
            "voice-train",
            "--clips",
            str(tmp_path / "clips"),
            "--out",
            str(out),
            "--contentvec",
            str(cv),
        ]
    )


@pytest.mark.parametrize("tool", [finetune, voice_train])
def test_out_that_is_a_file(tool, tmp_path, blocker):
    line = one_error_line(tool(blocker, tmp_path))
    assert "is a file, not a folder" in line, line
    assert blocker.read_text() == "user data\n"


@pytest.mark.parametrize("tool", [finetune, voice_train])
def test_out_that_cannot_be_created(tool, tmp_path, blocker):
    line = one_error_line(tool(blocker / "sub" / "run", tmp_path))
    assert "cannot be created" in line and str(blocker) in line, line


@pytest.mark.parametrize("tool", [finetune, voice_train])
def test_out_on_a_read_only_disk(tool, tmp_path, readonly_dir):
    line = one_error_line(tool(readonly_dir / "run", tmp_path))
    assert "not writable" in line and "Read-only" in line, line

"""enroll refusals: one line that says what is wrong with the clip and what to do; no native log spam."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import one_error_line, run_cli


def make(tmp_path, kind):
    if kind == "zero":
        p = tmp_path / "zero.mp4"
        p.write_bytes(b"")
    elif kind == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("this is not a video\n" * 5)
    elif kind == "binary":
        p = tmp_path / "cut.mp4"
        p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    elif kind == "folder":
        p = tmp_path / "clips"
        p.mkdir()
    else:
        import cv2

        p = tmp_path / "wall.png"
        cv2.imwrite(str(p), np.full((240, 320, 3), 128, np.uint8))
    return p


@pytest.mark.parametrize(
    "kind, expect",
    [
        ("zero", "is empty (0 bytes)"),
        ("text", "is a text file, not a video"),
        ("binary", "export it again as MP4"),
        ("folder", "is a folder, not a clip"),
        ("faceless", "no face found"),
    ],
)
def test_enroll_refusal_is_one_line(tmp_path, kind, expect):
    clip = make(tmp_path, kind)
    proc = run_cli(["-m", "pipelines", "enroll", "-q", "--name", "t", "--persona-dir", str(tmp_path / "p"), str(clip)])
    line = one_error_line(proc)  # also: no XNNPACK / absl / feedback-manager lines
    assert expect in line and "Nothing was changed" in line, line
    assert "Errno" not in line
    assert not (tmp_path / "p").exists()

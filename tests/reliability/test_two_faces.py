"""Two faces: the report says which one was taken; a clip whose face jumps to another is refused."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.settings import DEFAULT_PERSONA

from .helpers import one_error_line, run_cli


@pytest.fixture(scope="module")
def faces():
    import cv2

    p = np.ascontiguousarray(cv2.imread(str(DEFAULT_PERSONA / "portrait.png"))[..., ::-1])
    h, w = p.shape[:2]
    small = cv2.resize(np.ascontiguousarray(p[:, ::-1]), (w * 2 // 3, h * 2 // 3))
    return p, small


def two_face_picture(faces):
    big, small = faces
    h, w = big.shape[:2]
    canvas = np.full((h, w * 2, 3), 200, np.uint8)
    canvas[:, :w] = big
    canvas[h // 6 : h // 6 + small.shape[0], w + w // 6 : w + w // 6 + small.shape[1]] = small
    return canvas


def test_two_faces_in_a_picture_says_which_was_taken(tmp_path, faces):
    import cv2

    pic = tmp_path / "two.png"
    cv2.imwrite(str(pic), two_face_picture(faces)[..., ::-1])
    proc = run_cli(["-m", "pipelines", "enroll", "-q", "--name", "two", "--persona-dir", str(tmp_path / "p"), str(pic)])
    assert proc.returncode == 0, proc.stderr
    assert "quality: good" not in proc.stdout
    assert "2 faces in the picture; took the largest, on the left" in proc.stdout, proc.stdout


def test_a_clip_whose_face_changes_is_refused(tmp_path, faces):
    from pipelines.face.avatar.video_io import write_clip

    big, small = faces
    h, w = big.shape[:2]
    first = np.full((h, w * 2, 3), 200, np.uint8)
    first[:, :w] = big  # one person on the left ...
    second = np.full((h, w * 2, 3), 200, np.uint8)
    second[h // 6 : h // 6 + small.shape[0], w + w // 6 : w + w // 6 + small.shape[1]] = small  # ... then another
    clip = write_clip(tmp_path / "switch.mp4", [first] * 20 + [second] * 20, fps=25.0)
    proc = run_cli(["-m", "pipelines", "enroll", "-q", "--name", "sw", "--persona-dir", str(tmp_path / "p"), str(clip)])
    line = one_error_line(proc)
    import re

    m = re.search(r"the face changes at frame (\d+) \(([\d.]+) s\)", line)
    assert m and 19 <= int(m.group(1)) <= 22, line  # the switch is at frame 20 (± the tracker settling)
    assert not (tmp_path / "p").exists()

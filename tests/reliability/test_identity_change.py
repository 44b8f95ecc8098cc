"""A clip whose face turns into another person at the same place and size is refused, naming the time;
one person talking with head motion is accepted."""

from __future__ import annotations

import re

import numpy as np
import pytest

from pipelines.face.avatar.enroll import EnrollmentError, build_avatar, check_one_person, detect_clip
from pipelines.testing.identity_clips import other_person, write_talking_clip

from .helpers import one_error_line, run_cli

FPS = 25.0


@pytest.fixture(scope="module")
def switch_clip(tmp_path_factory):
    return write_talking_clip(tmp_path_factory.mktemp("id") / "switch.mp4", seconds=3.2, fps=FPS, switch_s=1.6)


def test_the_second_person_really_differs_but_the_box_does_not_jump(switch_clip):
    from pipelines.face.avatar import landmarks as L
    from pipelines.face.avatar.video_io import read_clip
    from pipelines.testing.portrait_clip import load_portrait

    a, b = load_portrait(), other_person()
    box_a, box_b = L.detect_face(a).box, L.detect_face(b).box
    assert np.abs(np.asarray(box_a) - np.asarray(box_b)).max() < 0.1 * (box_a[2] - box_a[0])  # same place and size
    clip = read_clip(switch_clip, fps=FPS)
    faces = detect_clip(clip.frames)
    check_one_person(switch_clip, faces, FPS)  # the geometric test alone lets it through


def test_a_clip_that_changes_person_is_refused_at_the_change(switch_clip):
    with pytest.raises(EnrollmentError) as info:
        build_avatar([switch_clip])
    msg = str(info.value)
    m = re.search(r"the face changes at frame (\d+) \(([\d.]+) s\): from there it looks like another person", msg)
    assert m and 38 <= int(m.group(1)) <= 44, msg  # the switch is at frame 40 (1.60 s)
    assert "switch.mp4" in msg and "\n" not in msg


def test_one_person_talking_with_head_motion_is_accepted(tmp_path):
    clip = write_talking_clip(tmp_path / "talk.mp4", seconds=4.0, fps=FPS)
    avatar, report = build_avatar([clip])
    assert len(avatar) == 100 and report["face_share"] > 0.95


def test_enroll_cli_names_the_clip_and_time(tmp_path, switch_clip):
    proc = run_cli(
        ["-m", "pipelines", "enroll", "-q", "--name", "sw", "--persona-dir", str(tmp_path / "p"), str(switch_clip)]
    )
    line = one_error_line(proc)
    assert "switch.mp4" in line and re.search(r"at frame \d+ \(1\.[5-7]\d s\)", line), line
    assert not (tmp_path / "p").exists()

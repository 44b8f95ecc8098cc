"""Wav2Lip's enrollment options: pads, a fixed box, nosmooth, the resolution cap (settings and CLI)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.face.avatar.enroll import EnrollmentError, build_avatar, parse_box, parse_pads


def test_parse_options():
    assert parse_pads("0 20 5 5") == (0, 20, 5, 5) and parse_pads("0,10,0,0") == (0, 10, 0, 0)
    assert parse_pads("") == (0, 10, 0, 0) and parse_box("") is None and parse_box("-1 -1 -1 -1") is None
    with pytest.raises(EnrollmentError, match="4 whole numbers"):
        parse_pads("0 10")
    with pytest.raises(EnrollmentError, match="top < bottom"):
        parse_box("100 50 0 10")


def test_pads_and_a_fixed_box_change_the_face_box(portrait_path, portrait_avatar):
    base = portrait_avatar.boxes[0]
    padded, _ = build_avatar([portrait_path], pads="0 40 6 6")
    b = padded.boxes[0]
    h, w = padded.frames.shape[1:3]
    assert b[3] == min(h, base[3] + 30) and b[0] == max(0, base[0] - 6) and b[2] == min(w, base[2] + 6)
    fixed, _ = build_avatar([portrait_path], box="100 400 120 390")  # top bottom left right
    assert tuple(fixed.boxes[0]) == (120, 100, 390, 400)


def test_nosmooth_keeps_the_per_frame_boxes_and_the_resolution_cap(head_motion_clip):
    path, _ = head_motion_clip  # 640x360
    smooth, _ = build_avatar([path])
    raw, _ = build_avatar([path], nosmooth=True, max_side=480)
    assert raw.frames.shape[1:3] == (270, 480) and smooth.frames.shape[1:3] == (360, 640)
    raw.boxes = (raw.boxes * (640 / 480)).astype(np.int32)
    jitter = lambda b: np.abs(np.diff(b.astype(float), 2, axis=0)).mean()  # noqa: E731
    assert jitter(raw.boxes) > 1.2 * jitter(smooth.boxes)


def test_enroll_cli_takes_the_options(tmp_path, portrait_path, capsys):
    from pipelines.face.avatar.enroll_cli import main
    from pipelines.face.avatar.storage import read_avatar

    rc = main(["--name", "p", "--persona-dir", str(tmp_path), "--pads", "0", "30", "0", "0", "-q", str(portrait_path)])
    assert rc == 0
    av = read_avatar(tmp_path / "p" / "avatar")
    rc = main(
        ["--name", "q", "--persona-dir", str(tmp_path), "--box", "300", "100", "0", "50", "-q", str(portrait_path)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "top < bottom" in err and "Traceback" not in err
    assert av.boxes[0][3] > 0


def test_settings_have_the_options():
    from pipelines.settings import Settings

    s = Settings().replace("face.pads", "0 20 0 0").replace("face.nosmooth", True).replace("face.box", "")
    assert s.face.pads == "0 20 0 0" and s.face.nosmooth and s.face.enroll_max_side == 720

"""Enrollment finds small faces: a 1280x720 clip whose face is about 60 px wide enrolls."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def small_face_clip(tmp_path_factory, portrait_path):
    import cv2

    from pipelines.face.avatar import landmarks as L
    from pipelines.face.avatar.video_io import write_clip

    img = np.ascontiguousarray(cv2.imread(str(portrait_path))[..., ::-1])
    pts = L.face_mesh(img)
    face_w = float(pts[:, 0].max() - pts[:, 0].min())
    k = 60.0 / face_w  # the face about 60 px wide in the frame
    small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    bg = (rng.integers(60, 120, (720, 1280, 3))).astype(np.uint8)
    bg = cv2.GaussianBlur(bg, (0, 0), 3)
    sh, sw = small.shape[:2]

    def frames():
        for i in range(50):  # 2 s, drifting slowly
            f = bg.copy()
            x, y = 700 + i, 300 + i // 3
            f[y : y + sh, x : x + sw] = small
            yield f

    path = tmp_path_factory.mktemp("small") / "far.mp4"
    write_clip(path, frames(), fps=25.0)
    return path, k, (700, 300, sw, sh)


def test_a_60px_face_in_a_720p_clip_enrolls(small_face_clip):
    from pipelines.face.avatar.enroll import build_avatar

    path, k, (x, y, sw, sh) = small_face_clip
    avatar, report = build_avatar([path])
    assert len(avatar) == 50
    s = avatar.frames.shape[2] / 1280.0  # frames kept at the enrollment size cap
    lm = avatar.landmarks[0] / s  # back to 1280x720 pixels
    # the mesh sits on the placed face: inside the pasted portrait, about 60 px wide
    assert x - 5 <= lm[:, 0].min() and lm[:, 0].max() <= x + sw + 5
    assert y - 5 <= lm[:, 1].min() and lm[:, 1].max() <= y + sh + 5
    assert 45 <= lm[:, 0].max() - lm[:, 0].min() <= 75
    b = avatar.boxes[0] / s
    assert b[0] < lm[:, 0].mean() < b[2] and b[1] < lm[:, 1].mean() < b[3]

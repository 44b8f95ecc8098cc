"""The warp mouth's look: shaded teeth, a smiling photo's own teeth kept, blinks that leave the brows."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.face.warp.idle import blink, build_eye_rigs
from pipelines.face.warp.mouth import build_rig, open_mouth


def _lum(rgb):
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def test_teeth_are_shaded_not_a_flat_white_band(portrait_avatar):
    frame, pts = np.asarray(portrait_avatar.frames[0]), portrait_avatar.landmarks[0]
    rig = build_rig(frame, pts)
    out = frame.copy()
    open_mouth(frame, out, rig, 0.9)
    roi = _lum(out[rig.y0 : rig.y1, rig.x0 : rig.x1])
    bright = roi > 150  # the painted upper teeth
    assert bright.sum() > 30
    assert roi.max() < 235  # ivory, not paper white
    rows = np.flatnonzero(bright.sum(1) > 10)
    row = roi[rows[len(rows) // 2]]
    teeth = row[row > 120]
    assert teeth.std() > 8  # side shading along the row
    dips = [i for i in range(2, len(teeth) - 2) if teeth[i] < min(teeth[i - 2], teeth[i + 2]) - 4]
    assert len(dips) >= 3  # seams between the teeth


@pytest.fixture(scope="module")
def smiling(tmp_path_factory):
    import cv2
    import skimage.data

    from pipelines.face.avatar.enroll import build_avatar

    p = tmp_path_factory.mktemp("smile") / "astronaut.png"
    cv2.imwrite(str(p), skimage.data.astronaut()[..., ::-1])  # a real photo of a smiling person
    av, _ = build_avatar([p])
    return np.asarray(av.frames[0]), av.landmarks[0]


def test_a_smiling_photo_keeps_its_teeth_instead_of_a_dark_hole(smiling):
    frame, pts = smiling
    rig = build_rig(frame, pts)
    assert rig.shows_interior > 0.5
    out = frame.copy()
    open_mouth(frame, out, rig, 0.5)
    from pipelines.face.avatar import landmarks as L

    lips = pts[L.LIPS_OUTER]
    x0, y0 = np.floor(lips.min(0)).astype(int)
    x1, y1 = np.ceil(lips.max(0)).astype(int) + (0, int(0.5 * rig.width))  # room for the lowered lip
    before, after = _lum(frame[y0:y1, x0:x1]), _lum(out[y0:y1, x0:x1])
    assert (after > 170).sum() >= 0.8 * (before > 170).sum()  # the teeth are still there
    assert (after < 40).sum() - (before < 40).sum() < 0.1 * after.size  # and no black hole
    assert after.mean() > 0.75 * before.mean()


def test_blink_closes_the_eye_and_leaves_the_eyebrows(portrait_avatar):
    frame, pts = np.asarray(portrait_avatar.frames[0]), portrait_avatar.landmarks[0]
    out = frame.copy()
    blink(frame, out, build_eye_rigs(frame, pts), 1.0)
    for brow in (105, 66, 334, 296):  # mediapipe eyebrow points
        x, y = np.round(pts[brow]).astype(int)
        a, b = frame[y - 3 : y + 4, x - 3 : x + 4].astype(int), out[y - 3 : y + 4, x - 3 : x + 4].astype(int)
        assert np.abs(a - b).max() <= 2, brow
    for up, lo in ((159, 145), (386, 374)):  # the eye itself changed
        x, y = np.round((pts[up] + pts[lo]) / 2).astype(int)
        assert np.abs(frame[y - 1 : y + 2, x - 2 : x + 3].astype(int) - out[y - 1 : y + 2, x - 2 : x + 3]).max() > 10

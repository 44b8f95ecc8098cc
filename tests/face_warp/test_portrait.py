"""The bundled portrait is a face mediapipe finds, with a plausible closed mouth; a real photo too."""

from __future__ import annotations

import numpy as np

from pipelines.face.avatar import landmarks as L


def _check_face(img: np.ndarray):
    det = L.detect_face(img)
    assert det is not None, "face detection found no face"
    pts = L.face_mesh(img)
    assert pts is not None and pts.shape == (478, 2), "face mesh found no face"
    x1, y1, x2, y2 = det.box
    face_w = x2 - x1
    left, right = pts[L.MOUTH_LEFT], pts[L.MOUTH_RIGHT]
    mouth_w = right[0] - left[0]
    # a mouth of plausible size and place: between the cheeks, below the nose, above the chin
    assert 0.2 * face_w < mouth_w < 0.6 * face_w
    assert pts[L.NOSE_TIP][1] < pts[L.UPPER_LIP_TOP][1] < pts[L.LOWER_LIP_BOTTOM][1] < pts[L.CHIN][1]
    eyes_y = (pts[L.RIGHT_EYE[0]][1] + pts[L.LEFT_EYE[0]][1]) / 2
    assert eyes_y < pts[L.NOSE_TIP][1]
    # the mouth sits inside the detected box, horizontally centred under the nose
    assert x1 < left[0] < right[0] < x2
    assert abs((left[0] + right[0]) / 2 - pts[L.NOSE_TIP][0]) < 0.1 * face_w
    return det, pts


def test_bundled_portrait_has_478_landmarks_and_a_closed_mouth(portrait_rgb):
    h, w = portrait_rgb.shape[:2]
    assert (h, w) == (512, 512)
    det, pts = _check_face(portrait_rgb)
    assert det.score > 0.8
    assert L.mouth_opening(pts) < 0.08  # drawn with the lips together
    lips_h = pts[L.LOWER_LIP_BOTTOM][1] - pts[L.UPPER_LIP_TOP][1]
    assert lips_h > 8  # lips with some thickness, not a line
    # the face is the portrait's subject: centred and large
    cx = (det.box[0] + det.box[2]) / 2
    assert abs(cx - w / 2) < 0.1 * w and det.box[2] - det.box[0] > 0.3 * w


def test_portrait_generator_reproduces_the_committed_png(portrait_rgb):
    from pipelines.assets.portrait import render_portrait

    img = render_portrait(512, seed=7)
    assert img.shape == portrait_rgb.shape and img.dtype == np.uint8
    assert np.abs(img.astype(int) - portrait_rgb.astype(int)).mean() < 1.0
    other = render_portrait(320, seed=7)  # same face at another size is still a face
    _check_face(other)


def test_real_photo_is_found_too():
    from skimage import data

    img = np.ascontiguousarray(data.astronaut())
    _check_face(img)

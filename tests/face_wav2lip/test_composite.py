"""Paste-back: feathered lower-face mask, nothing outside it changes, colour matched."""

import numpy as np
import pytest

from pipelines.face.wav2lip.compositor import TOP_CUT, Compositor, lower_face_mask, match_colour


def _full_mask(frame_shape, box, mask_box):
    full = np.zeros(frame_shape[:2], np.float32)
    x1, y1, x2, y2 = box
    full[y1:y2, x1:x2] = mask_box
    return full


@pytest.mark.parametrize("use_landmarks", [True, False])
def test_mask_is_feathered_on_the_lower_face_only(face_avatar, use_landmarks):
    box = face_avatar.boxes[0]
    lm = face_avatar.landmarks[0] if use_landmarks else None
    m = lower_face_mask(box, lm)
    h, w = box[3] - box[1], box[2] - box[0]
    assert m.shape == (h, w) and m.dtype == np.float32
    assert m.max() == pytest.approx(1.0) and m.min() == 0.0
    assert np.all(m[: int(np.ceil(TOP_CUT * h))] == 0)  # eyes and nose untouched
    assert np.all(m[0] == 0) and np.all(m[-1] == 0) and np.all(m[:, 0] == 0) and np.all(m[:, -1] == 0)
    soft = ((m > 0) & (m < 1)).sum()
    assert soft > 0.2 * (m > 0).sum()  # a real feather, not a hard edge
    if use_landmarks:  # the mouth (inner lip midpoints) is fully inside
        for idx in (13, 14):
            x, y = face_avatar.landmarks[0][idx] - box[:2]
            assert m[int(y), int(x)] == pytest.approx(1.0)


@pytest.mark.parametrize("colour_match", [True, False])
def test_pixels_outside_the_mask_are_unchanged(face_avatar, colour_match):
    rng = np.random.default_rng(0)
    comp = Compositor(colour_match=colour_match)
    for k in range(len(face_avatar)):
        frame = face_avatar.frames[k]
        box = face_avatar.boxes[k]
        face96 = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
        out = comp.paste(frame, box, face96, key=k, landmarks=face_avatar.landmarks[k])
        assert out.shape == frame.shape and out.dtype == np.uint8
        full = _full_mask(frame.shape, box, lower_face_mask(box, face_avatar.landmarks[k]))
        outside = full == 0
        assert np.array_equal(out[outside], frame[outside])
        changed = np.any(out != frame, axis=2)
        assert changed.sum() > 0.5 * (full >= 0.5).sum()  # the mouth area was replaced
        assert not np.may_share_memory(out, frame)


def test_colour_match_moves_the_patch_to_the_frame_colour(face_avatar):
    import cv2

    box = face_avatar.boxes[0]
    x1, y1, x2, y2 = box
    target = face_avatar.frames[0][y1:y2, x1:x2]
    mask = lower_face_mask(box, face_avatar.landmarks[0])
    tinted = np.clip(target.astype(np.int16) + np.array([40, -25, 10]), 0, 255).astype(np.uint8)
    fixed = match_colour(tinted, target, mask)
    ring = (mask > 0) & (mask < 1)

    def lab_mean(img):
        return cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[ring].mean(0)

    before = np.abs(lab_mean(tinted) - lab_mean(target))
    after = np.abs(lab_mean(fixed) - lab_mean(target))
    assert before.max() > 8
    assert after.max() < 1.5


def test_masks_are_cached_per_avatar_frame(face_avatar):
    comp = Compositor()
    a = comp.mask_for(0, face_avatar.boxes[0], face_avatar.landmarks[0])
    b = comp.mask_for(0, face_avatar.boxes[0], face_avatar.landmarks[0])
    assert a[0] is b[0]
    c = comp.mask_for(3, face_avatar.boxes[3], face_avatar.landmarks[3])
    assert c[0] is not a[0]


def test_too_small_box_is_refused():
    with pytest.raises(ValueError, match="too small"):
        lower_face_mask(np.array([10, 10, 12, 40]))

"""Data preparation: crops, mel windows, the held-out tail and the idle start of a real talking clip."""

from __future__ import annotations

import numpy as np

from tests.face_personal.conftest import CROP


def test_prepared_shapes_and_split(prepared):
    d = prepared
    n = len(d.crops)
    assert 145 <= n <= 155  # 6 s at 25 fps
    assert d.crops.shape == (n, CROP, CROP, 3) and d.crops.dtype == np.uint8
    assert d.windows.shape == (n, 80, 16) and d.windows.dtype == np.float32
    assert d.level_db.shape == (n,)
    # the validation frames are the tail, disjoint from the training frames
    assert d.val_idx[-1] == n - 1 and d.val_idx[0] == d.train_idx[-1] + 1
    assert len(d.train_idx) + len(d.val_idx) == n
    assert abs(len(d.val_idx) - 0.15 * n) <= 1
    # the tail is kept as full frames with boxes, and its audio covers it
    assert len(d.tail.frames) == len(d.val_idx)
    assert abs(len(d.tail_audio[0]) / d.tail_audio[1] - len(d.val_idx) / 25.0) < 0.15


def test_first_silent_frames_are_idle(prepared):
    # the clip starts with 0.4 s (10 frames) of silence
    assert 8 <= prepared.report["idle_frames"] <= 12
    assert prepared.silent[:8].all()
    assert not prepared.silent[20:60].all()


def test_speech_frames_have_louder_mel(prepared):
    d = prepared
    loud, quiet = ~d.silent, d.silent
    assert d.windows[loud].mean() > d.windows[quiet].mean() + 1.0


def test_input_masks_the_mouth_and_keeps_the_reference(prepared):
    from pipelines.face.personal.data import to_input

    crops, refs = prepared.crops[:3], prepared.crops[5:8]
    x = to_input(crops, refs)
    assert x.shape == (3, 6, CROP, CROP)
    half = CROP // 2
    assert np.all(x[:, :3, half:] == 0.0)
    np.testing.assert_allclose(x[:, :3, :half], crops[:, :half].transpose(0, 3, 1, 2) / 255.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 3:], refs.transpose(0, 3, 1, 2) / 255.0, atol=1e-6)


def test_idle_start_is_kept_as_an_avatar(prepared):
    idle = prepared.idle
    k = prepared.report["idle_frames"]
    assert idle is not None and len(idle) == k
    np.testing.assert_array_equal(idle.crops.shape, (k, 96, 96, 3))

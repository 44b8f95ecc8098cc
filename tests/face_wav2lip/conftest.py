"""Fixtures for the Wav2Lip renderer tests: a real face, real speech, a random-weight generator.

* ``face_avatar``: ``skimage.data.astronaut()`` with its mediapipe face box
  (Wav2Lip pads: +10 px at the bottom) and 478-point face mesh, made into a
  6-frame clip by turning, scaling and moving the image a little per frame
  (landmarks and box corners moved with it), in the agreed ``Avatar`` layout.
* ``speech``: an English sentence from the espeak-ng base voice at 22050 Hz,
  with 0.4 s of digital silence before and after.
* ``w2l_model``: the official Wav2Lip architecture with random weights whose
  BatchNorm statistics were measured on those faces and mels.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.face.avatar.storage import Avatar

#: per avatar frame: (rotation degrees, scale, dx, dy) about the face centre: a small head motion
MOTION = [
    (0.0, 1.0, 0, 0),
    (2.0, 1.01, 3, 1),
    (4.0, 1.02, 6, 2),
    (1.0, 0.99, 8, 2),
    (-2.0, 0.98, 5, 1),
    (-4.0, 1.0, 2, 0),
]


@pytest.fixture(scope="session", autouse=True)
def _threads():
    import torch

    torch.set_num_threads(2)


def _mediapipe_face(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wav2Lip face box (pads [0, 10, 0, 0]) and 478-point mesh, through the project's landmark wrapper."""
    from pipelines.face.avatar import landmarks

    h, w = img.shape[:2]
    x1, y1, x2, y2 = landmarks.detect_face(img).box.astype(int)
    box = np.array([max(0, x1), max(0, y1), min(w, x2), min(h, y2 + 10)], np.int32)
    return box, landmarks.face_mesh(img)


@pytest.fixture(scope="session")
def face_avatar():
    import cv2
    import skimage.data

    base = skimage.data.astronaut()
    box0, lm0 = _mediapipe_face(base)
    frames, boxes, lms, crops = [], [], [], []
    centre = ((box0[0] + box0[2]) / 2.0, (box0[1] + box0[3]) / 2.0)
    h, w = base.shape[:2]
    for angle, scale, dx, dy in MOTION:
        m = cv2.getRotationMatrix2D(centre, angle, scale)
        m[:, 2] += (dx, dy)
        img = cv2.warpAffine(base, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        corners = np.array([[box0[0], box0[1]], [box0[2], box0[1]], [box0[0], box0[3]], [box0[2], box0[3]]], np.float32)
        moved = corners @ m[:, :2].T + m[:, 2]
        x1, y1 = np.floor(moved.min(0)).astype(int)
        x2, y2 = np.ceil(moved.max(0)).astype(int)
        box = np.array([max(0, x1), max(0, y1), min(w, x2), min(h, y2)], np.int32)
        frames.append(img)
        boxes.append(box)
        lms.append((lm0 @ m[:, :2].T + m[:, 2]).astype(np.float32))
        crops.append(cv2.resize(img[box[1] : box[3], box[0] : box[2]], (96, 96), interpolation=cv2.INTER_AREA))
    return Avatar(
        frames=np.stack(frames),
        boxes=np.stack(boxes),
        landmarks=np.stack(lms),
        crops=np.stack(crops),
        fps=25.0,
        source="skimage astronaut (small head motion)",
    )


@pytest.fixture(scope="session")
def speech() -> tuple[np.ndarray, int]:
    from pipelines.testing.fresh_espeak import speak_fresh

    (pcm,), sr = speak_fresh(["Hello, it is nice to meet you."])  # the same audio whatever this process spoke before
    pad = np.zeros(int(0.4 * sr), np.float32)
    return np.concatenate([pad, pcm.astype(np.float32) / 32768.0, pad]), sr


@pytest.fixture(scope="session")
def real_pairs(face_avatar, speech):
    """(mels (16,1,80,16), faces (16,6,96,96)) from the face crops and the speech."""
    from pipelines.face.wav2lip.export.calibration import paired_inputs, speech_windows

    return paired_inputs(face_avatar.crops, speech_windows([speech]), 16, seed=0)


@pytest.fixture(scope="session")
def w2l_model(real_pairs):
    from pipelines.testing.wav2lip_random import random_wav2lip

    mels, faces = real_pairs
    return random_wav2lip(0, mels, faces)


@pytest.fixture(scope="session")
def w2l_checkpoint(w2l_model, tmp_path_factory):
    """The random generator saved like the official training script (module. prefix, optimizer state)."""
    import torch

    from pipelines.face.wav2lip.checkpoint import save_checkpoint

    opt = torch.optim.Adam([p for p in w2l_model.parameters() if p.requires_grad], lr=1e-4)
    path = tmp_path_factory.mktemp("w2l") / "wav2lip_gan.pth"
    save_checkpoint(w2l_model, path, optimizer_state=opt.state_dict(), global_step=1000, global_epoch=3)
    return path


@pytest.fixture(scope="session")
def w2l_onnx(w2l_model, tmp_path_factory):
    from pipelines.face.wav2lip.export.onnx_export import export_fp32

    return export_fp32(w2l_model, tmp_path_factory.mktemp("w2l_onnx") / "wav2lip_gan.fp32.onnx")


@pytest.fixture(scope="session")
def w2l_int8(w2l_onnx, face_avatar, speech, tmp_path_factory):
    """The int8 export every test shares (static QDQ, calibrated on the crops + even speech windows)."""
    from pipelines.face.wav2lip.export.calibration import paired_inputs, speech_windows
    from pipelines.face.wav2lip.export.onnx_export import quantize_int8

    mels, faces = paired_inputs(face_avatar.crops, speech_windows([speech])[::2], 16, seed=0)
    return quantize_int8(w2l_onnx, tmp_path_factory.mktemp("int8") / "w.int8.onnx", mels, faces, batch=8)

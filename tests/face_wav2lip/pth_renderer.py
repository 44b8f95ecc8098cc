"""Shared by the runtime tests: a Wav2Lip renderer on a copy of the test checkpoint, and the lower-face mask."""

import shutil

import numpy as np

from pipelines.face.wav2lip.compositor import lower_face_mask
from pipelines.face.wav2lip.renderer import Wav2LipRenderer
from pipelines.persona import Persona
from pipelines.settings import Settings


def renderer_on_pth(w2l_checkpoint, face_avatar, tmp_path, runtime: str):
    """``(renderer, pth)``: face.wav2lip on the CPU, batch 8, ``runtime``, a .pth copied into ``tmp_path``."""
    pth = tmp_path / "wav2lip_gan.pth"
    shutil.copy(w2l_checkpoint, pth)
    return renderer_for(pth, face_avatar, tmp_path, runtime), pth


def renderer_for(pth, face_avatar, tmp_path, runtime: str):
    """face.wav2lip on the CPU, batch 8, ``runtime``, on the checkpoint ``pth`` (a persona in ``tmp_path``)."""
    s = (
        Settings()
        .replace("face.backend", "wav2lip")
        .replace("face.wav2lip.checkpoint", str(pth))
        .replace("face.wav2lip.runtime", runtime)
        .replace("device", "cpu")
        .replace("face.wav2lip.batch_size", 8)
    )
    persona = Persona(root=tmp_path, name="t", display_name="t", system_prompt="")
    return Wav2LipRenderer.from_settings(s, persona, avatar=face_avatar)


def face_mask(face_avatar, i: int) -> np.ndarray:
    """The lower-face blend mask of output frame ``i`` over its whole avatar frame (0 = untouched)."""
    k = face_avatar.index(i)
    mask = np.zeros(face_avatar.frames[k].shape[:2], np.float32)
    x1, y1, x2, y2 = face_avatar.boxes[k]
    mask[y1:y2, x1:x2] = lower_face_mask(face_avatar.boxes[k], face_avatar.landmarks[k])
    return mask

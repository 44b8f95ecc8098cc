"""Wav2Lip takes avatar frames by time at the avatar's own fps (25), whatever face.fps is."""

import numpy as np
import pytest

from pipelines.face.wav2lip.renderer import Wav2LipRenderer
from pipelines.messages import AudioChunk
from pipelines.persona import Persona
from pipelines.settings import Settings
from pipelines.stage import TurnContext


@pytest.mark.parametrize("fps", [20, 25, 30, 50])
def test_wav2lip_frames_by_time(w2l_checkpoint, face_avatar, tmp_path, fps):
    s = (
        Settings()
        .replace("face.backend", "wav2lip")
        .replace("face.wav2lip.checkpoint", str(w2l_checkpoint))
        .replace("face.fps", fps)
        .replace("face.wav2lip.batch_size", 8)
        .replace("face.wav2lip.runtime", "torch")
        .replace("device", "cpu")
    )
    r = Wav2LipRenderer.from_settings(
        s, Persona(root=tmp_path, name="t", display_name="t", system_prompt=""), avatar=face_avatar
    )
    r.load()
    sr = 16000
    chunks = list(r.process(AudioChunk(1, np.zeros(int(1.3 * sr), np.float32), sr, ""), TurnContext(1)))
    frames = np.concatenate([c.frames for c in chunks])
    n = round(1.3 * fps)
    assert len(frames) == n and all(c.fps == fps for c in chunks)
    assert sum(len(c.audio) for c in chunks) == round(n * sr / fps)
    for i, f in enumerate(frames):  # silence: the original frame enrolled at t = i / fps
        assert np.array_equal(f, face_avatar.frame_at(i / fps)), i
    # 0.2 s in, the 6-frame clip is at its 6th frame (index 5) at every output rate
    assert np.array_equal(frames[round(0.2 * fps)], face_avatar.frames[5])

"""face.wav2lip.runtime auto on the CPU with a .pth: an int8 ONNX export is made once, cached by the checkpoint's hash."""

import shutil

import numpy as np

from pipelines.face.wav2lip.export.cache import cached_name, find_cached
from pipelines.face.wav2lip.renderer import Wav2LipRenderer
from pipelines.messages import AudioChunk
from pipelines.persona import Persona
from pipelines.settings import Settings
from pipelines.stage import TurnContext


def test_auto_runtime_exports_caches_and_reuses_int8(w2l_checkpoint, face_avatar, speech, tmp_path, capsys):
    pth = tmp_path / "wav2lip_gan.pth"
    shutil.copy(w2l_checkpoint, pth)
    s = (
        Settings()
        .replace("face.backend", "wav2lip")
        .replace("face.wav2lip.checkpoint", str(pth))
        .replace("face.wav2lip.runtime", "auto")
        .replace("device", "cpu")
        .replace("face.wav2lip.batch_size", 8)
    )
    persona = Persona(root=tmp_path, name="t", display_name="t", system_prompt="")
    r = Wav2LipRenderer.from_settings(s, persona, avatar=face_avatar)
    r.load()
    out = capsys.readouterr().out
    assert "[1/3]" in out and "[3/3] int8 calibration" in out  # progress while exporting
    cached = find_cached(pth)
    assert cached is not None and cached.parent == tmp_path and cached.name == cached_name(pth)
    assert r.backend.startswith("wav2lip/onnx-int8")
    samples, sr = speech
    chunks = list(r.process(AudioChunk(1, samples, sr, "hi"), TurnContext(1)))
    assert sum(len(c.frames) for c in chunks) == round(len(samples) / sr * 25)
    stamp = cached.stat().st_mtime_ns
    # a second start reuses the cached model: no export, no progress
    r2 = Wav2LipRenderer.from_settings(s, persona, avatar=face_avatar)
    r2.load()
    assert "[1/3]" not in capsys.readouterr().out and cached.stat().st_mtime_ns == stamp
    assert r2.backend.startswith("wav2lip/onnx-int8")
    # another checkpoint (other bytes) gets its own export name
    other = tmp_path / "other.pth"
    shutil.copy(pth, other)
    with open(other, "ab") as fh:
        fh.write(np.zeros(16, np.uint8).tobytes())
    assert cached_name(other).split(".")[1] != cached.name.split(".")[1]

"""face.wav2lip.runtime auto on the CPU with a .pth: an int8 ONNX export is made once, cached by the checkpoint's hash."""

import shutil

import numpy as np

from pipelines.face.wav2lip.export.cache import cached_name, find_cached
from pipelines.messages import AudioChunk
from pipelines.stage import TurnContext

from .pth_renderer import renderer_for, renderer_on_pth


def test_auto_runtime_exports_caches_and_reuses_int8(w2l_checkpoint, face_avatar, speech, tmp_path, capsys):
    r, pth = renderer_on_pth(w2l_checkpoint, face_avatar, tmp_path, "auto")
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
    r2 = renderer_for(pth, face_avatar, tmp_path, "auto")
    r2.load()
    assert "[1/3]" not in capsys.readouterr().out and cached.stat().st_mtime_ns == stamp
    assert r2.backend.startswith("wav2lip/onnx-int8")
    # another checkpoint (other bytes) gets its own export name
    other = tmp_path / "other.pth"
    shutil.copy(pth, other)
    with open(other, "ab") as fh:
        fh.write(np.zeros(16, np.uint8).tobytes())
    assert cached_name(other).split(".")[1] != cached.name.split(".")[1]

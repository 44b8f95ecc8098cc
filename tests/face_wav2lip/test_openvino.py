"""Wav2Lip in OpenVINO: the fp32 export run in bf16 where the CPU has it in hardware (else fp32).

* the output stays the picture ONNX Runtime fp32 gives (PSNR on real face / speech inputs);
* batches are padded to a few sizes (``batch_bucket``), which changes no frame's output, and
  ``warm_up`` runs each of those sizes once at load;
* ``face.wav2lip.runtime openvino`` with a .pth exports the fp32 ONNX once, cached by the
  checkpoint's hash, makes no int8 model, and renders a turn.
"""

import numpy as np
import pytest

from pipelines import openvino_runtime
from pipelines.face.wav2lip.export.cache import cached_name, find_cached
from pipelines.face.wav2lip.export.calibration import psnr
from pipelines.face.wav2lip.inference import Wav2LipInference, batch_bucket
from pipelines.messages import AudioChunk
from pipelines.stage import TurnContext

from .pth_renderer import face_mask, renderer_for, renderer_on_pth


def test_batch_buckets_are_few_and_cover_every_size():
    assert [batch_bucket(n) for n in range(1, 10)] == [1, 2, 4, 4, 8, 8, 8, 8, 16]
    assert [batch_bucket(n) for n in (16, 17, 24, 25, 32, 33)] == [16, 24, 24, 32, 32, 40]
    assert len({batch_bucket(n) for n in range(1, 33)}) == 7
    assert all(batch_bucket(n) >= n for n in range(1, 200))


def test_openvino_matches_onnxruntime_fp32_and_padding_changes_no_frame(w2l_onnx, real_pairs):
    mels, faces = real_pairs
    ref = Wav2LipInference(w2l_onnx, runtime="onnx", threads=2).load()(mels, faces)
    ov = Wav2LipInference(w2l_onnx, runtime="openvino", threads=2).load()
    assert ov.describe() == f"openvino-{openvino_runtime.resolve_precision('auto')}@cpu"
    out = ov(mels, faces)
    assert out.shape == ref.shape == (16, 3, 96, 96) and out.dtype == np.float32
    score = psnr(ref, out)
    print(f"OpenVINO {ov.precision} vs ONNX Runtime fp32: PSNR {score:.1f} dB")
    assert score > (35 if ov.precision == "bf16" else 60)
    # 5 frames run as a batch of 8 (3 zero frames): the same 5 outputs as inside the batch of 16
    five = ov(mels[:5], faces[:5])
    assert five.shape == (5, 3, 96, 96)
    assert np.abs(five - out[:5]).max() < 1e-3


def test_warm_up_runs_every_padded_batch_size_once(w2l_onnx):
    ov = Wav2LipInference(w2l_onnx, runtime="openvino", threads=2).load()
    seen = []
    run = ov._session.run

    def counting(names, feeds):
        seen.append(len(next(iter(feeds.values()))))
        return run(names, feeds)

    ov._session.run = counting
    ov.warm_up(4, 32)
    assert seen == [1, 2, 4, 8, 16, 24, 32]
    seen.clear()
    ov(np.zeros((13, 1, 80, 16), np.float32), np.zeros((13, 6, 96, 96), np.float32))
    assert seen == [16]


def test_openvino_needs_an_onnx_model_or_the_face_stage_export(w2l_checkpoint):
    with pytest.raises(ValueError, match="OpenVINO runs the ONNX export"):
        Wav2LipInference(w2l_checkpoint, runtime="openvino")


def test_runtime_openvino_exports_fp32_once_and_renders_a_turn(w2l_checkpoint, face_avatar, speech, tmp_path, capsys):
    r, pth = renderer_on_pth(w2l_checkpoint, face_avatar, tmp_path, "openvino")
    r.load()
    assert "first use of wav2lip_gan.pth with OpenVINO" in capsys.readouterr().out
    cached = find_cached(pth, "fp32")
    assert cached is not None and cached.parent == tmp_path and cached.name == cached_name(pth, "fp32")
    assert find_cached(pth) is None  # no int8 model was made
    assert r.backend.startswith("wav2lip/openvino-")
    samples, sr = speech
    chunks = list(r.process(AudioChunk(1, samples, sr, "hi"), TurnContext(1)))
    frames = np.concatenate([c.frames for c in chunks])
    assert len(frames) == round(len(samples) / sr * 25)
    assert frames.shape[1:] == face_avatar.frames.shape[1:]
    # speech frames carry the generated mouth in the lower face only
    changed = 0
    for i in range(12, len(frames) - 12):
        orig, mask = face_avatar.frames[face_avatar.index(i)], face_mask(face_avatar, i)
        assert np.array_equal(frames[i][mask == 0], orig[mask == 0])
        changed += int(np.any(frames[i] != orig))
    assert changed > 0.8 * (len(frames) - 24)
    stamp = cached.stat().st_mtime_ns
    r2 = renderer_for(pth, face_avatar, tmp_path, "openvino")
    r2.load()
    assert "first use" not in capsys.readouterr().out and cached.stat().st_mtime_ns == stamp

"""The trained model as the ``personal`` face backend: a whole turn through the stage worker, and ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def renderer(trained, prepared):
    from pipelines.face.personal.renderer import PersonalRenderer
    from pipelines.paths import SOURCE_DIR
    from pipelines.persona import Persona
    from pipelines.settings import Settings

    s = Settings()
    s.face.backend = "personal"
    s.face.personal.checkpoint = trained["weights"]
    s.face.personal.runtime = "torch"
    r = PersonalRenderer.from_settings(s, Persona.load(SOURCE_DIR / "default"), avatar=prepared.idle)
    r.load()
    return r


def test_registry_builds_the_personal_backend(trained):
    from pipelines.paths import SOURCE_DIR
    from pipelines.persona import Persona
    from pipelines.registry import build_stage
    from pipelines.settings import Settings

    s = Settings()
    s.face.backend = "personal"
    s.face.personal.checkpoint = trained["weights"]
    stage = build_stage("face", s, Persona.load(SOURCE_DIR / "default"))
    assert type(stage).__name__ == "PersonalRenderer"


def test_a_headless_turn_mouth_follows_the_audio(renderer, prepared, speech):
    from pipelines.face.personal import quality

    audio, sr = speech
    tail = prepared.idle  # the clip's silent start: the mouth is closed there
    frames = quality.render_over(renderer, tail, audio, sr)
    assert len(frames) == round(len(audio) / sr * 25)
    assert frames.shape[1:] == tail.frames.shape[1:]
    # outside the face boxes every pixel is the recorded frame's
    for i in (0, len(frames) // 2):
        j = renderer._avatar_index(i)
        x1, y1, x2, y2 = tail.boxes[j]
        keep = np.ones(frames.shape[1:3], bool)
        keep[y1:y2, x1:x2] = False
        assert np.array_equal(frames[i][keep], np.asarray(tail.frames[j])[keep])
    opening = quality.mouth_openings(frames)
    loud = quality.loudness(audio, sr, len(frames), 25.0)
    assert quality.correlation(opening, loud) > 0.3


def test_onnx_export_matches_torch(trained, prepared, tmp_path):
    from pipelines.face.personal.checkpoint import load_weights
    from pipelines.face.personal.export import calibration_pairs, export_fp32, export_int8
    from pipelines.face.personal.inference import PersonalInference
    from pipelines.face.wav2lip.export.calibration import psnr

    fp32 = export_fp32(load_weights(trained["weights"]), tmp_path / "p.fp32.onnx")
    mels, faces = calibration_pairs(prepared, 16)
    ref = PersonalInference(trained["weights"], runtime="torch").load()(mels, faces)
    got = PersonalInference(fp32).load()(mels, faces)
    assert got.shape == ref.shape == (16, 3, 64, 64)
    assert np.max(np.abs(got - ref)) < 1e-4
    int8 = PersonalInference(export_int8(fp32, tmp_path / "p.int8.onnx", mels, faces)).load()
    assert int8.precision == "int8"
    assert psnr(ref, int8(mels, faces)) > 25.0
    assert Path(fp32).stat().st_size > 2 * (tmp_path / "p.int8.onnx").stat().st_size

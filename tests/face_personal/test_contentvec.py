"""``face.personal.audio_features = contentvec``: the so-vits ContentVec encoder as the lip-sync model's audio input.

A tiny random HuBERT + final_proj in the Hugging Face layout that ``voice/contentvec.py``
loads (the one the so-vits tests use) stands in for ContentVec-base.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.face_personal.conftest import CROP, EPOCHS, options


@pytest.fixture(scope="module")
def contentvec(tmp_path_factory):
    from tests.voice_sovits.helpers import save_tiny_contentvec

    return save_tiny_contentvec(tmp_path_factory.mktemp("contentvec"))


@pytest.fixture(scope="module")
def features(contentvec):
    from pipelines.face.personal.features import ContentVecFeatures

    return ContentVecFeatures(contentvec)


@pytest.fixture(scope="module")
def prepared_cv(talking_clip, features):
    from pipelines.face.personal.data import prepare

    return prepare([talking_clip], crop=CROP, min_seconds=2.0, val_share=0.15, features=features)


@pytest.fixture(scope="module")
def trained_cv(prepared_cv, contentvec, tmp_path_factory):
    import dataclasses

    from pipelines.face.personal.train import train

    opts = dataclasses.replace(options(), audio_features="contentvec", contentvec=str(contentvec))
    return train(None, tmp_path_factory.mktemp("run-cv"), opts, data=prepared_cv)


def test_windows_are_16_unit_frames_centred_on_each_video_frame(features):
    from pipelines.face.personal.features import unit_windows

    units = np.tile(np.arange(100, dtype=np.float32), (3, 1))  # (D=3, 100 frames at 50 Hz = 2 s)
    w = unit_windows(units, 50, 25.0)
    assert w.shape == (50, 3, 16)
    assert w[10, 0, 8] == 20 and w[10, 0, 0] == 12 and w[10, 0, 15] == 27  # frame 10 = 0.4 s = unit 20
    assert w[0, 0, 0] == 0 and w[49, 0, 15] == 99  # the edges repeat the first / last unit
    audio = np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32)
    got = features.windows(audio, 50, 25.0)
    assert got.shape == (50, features.dim, 16) and features.dim == 32 and np.isfinite(got).all()
    whole = features.units(audio)
    assert whole.shape == (32, 100)


def test_long_audio_in_pieces_matches_one_pass_away_from_the_joins(features, monkeypatch):
    from pipelines.face.personal import features as fmod

    audio = np.random.default_rng(1).normal(0, 0.1, 16000 * 4).astype(np.float32)
    one = features.units(audio)
    monkeypatch.setattr(fmod, "CHUNK_S", 1.0)
    monkeypatch.setattr(fmod, "CONTEXT_S", 0.5)
    pieces = features.units(audio)
    assert pieces.shape == one.shape
    inside = np.r_[10:40, 60:90, 110:140]  # units at least 0.2 s from a join
    assert np.corrcoef(one[:, inside].ravel(), pieces[:, inside].ravel())[0, 1] > 0.9


def test_prepared_contentvec_windows(prepared_cv, prepared):
    assert prepared_cv.audio_features == "contentvec" and prepared_cv.report["audio_features"] == "contentvec"
    assert prepared_cv.windows.shape == (len(prepared.windows), 32, 16)
    assert np.array_equal(prepared_cv.crops, prepared.crops)  # the same frames, other audio features
    assert np.array_equal(prepared_cv.val_idx, prepared.val_idx)


def test_training_on_contentvec_lowers_the_validation_loss_and_records_the_features(trained_cv):
    from pipelines.face.personal.checkpoint import read_config

    losses = trained_cv["eval_losses"]
    assert len(losses) == EPOCHS and losses[-1] < 0.8 * losses[0]
    cfg = read_config(trained_cv["weights"])
    assert cfg["audio_features"] == "contentvec" and cfg["feature_dim"] == 32


def test_a_contentvec_model_renders_a_headless_turn_whose_mouth_follows_the_audio(
    trained_cv, prepared, contentvec, speech
):
    from pipelines.face.personal import quality
    from pipelines.face.personal.renderer import PersonalRenderer
    from pipelines.paths import SOURCE_DIR
    from pipelines.persona import Persona
    from pipelines.settings import Settings

    s = Settings()
    s.face.backend = "personal"
    s.face.personal.checkpoint = trained_cv["weights"]
    s.face.personal.runtime = "torch"
    s.voice.sovits.contentvec_dir = str(contentvec)  # the so-vits encoder, found without a face setting
    r = PersonalRenderer.from_settings(s, Persona.load(SOURCE_DIR / "default"), avatar=prepared.idle)
    r.load()
    assert r.features is not None and r.features.kind == "contentvec"
    audio, sr = speech
    frames = quality.render_over(r, prepared.idle, audio, sr)
    assert len(frames) == round(len(audio) / sr * 25)
    opening = quality.mouth_openings(frames)
    loud = quality.loudness(audio, sr, len(frames), 25.0)
    assert quality.correlation(opening, loud) > 0.3


def test_contentvec_onnx_export_matches_torch(trained_cv, prepared_cv, tmp_path):
    from pipelines.face.personal.checkpoint import load_weights
    from pipelines.face.personal.export import calibration_pairs, export_fp32, export_int8
    from pipelines.face.personal.inference import PersonalInference
    from pipelines.face.wav2lip.export.calibration import psnr

    fp32 = export_fp32(load_weights(trained_cv["weights"]), tmp_path / "cv.fp32.onnx")
    units, faces = calibration_pairs(prepared_cv, 16)
    assert units.shape[1:] == (1, 32, 16)
    ref = PersonalInference(trained_cv["weights"], runtime="torch").load()(units, faces)
    onnx_fp32 = PersonalInference(fp32).load()
    assert onnx_fp32.audio_features == "contentvec" and onnx_fp32.feature_dim == 32
    assert np.max(np.abs(onnx_fp32(units, faces) - ref)) < 1e-4
    int8 = PersonalInference(export_int8(fp32, tmp_path / "cv.int8.onnx", units, faces)).load()
    assert int8.precision == "int8" and int8.audio_features == "contentvec"
    assert psnr(ref, int8(units, faces)) > 25.0


def test_an_encoder_of_another_width_is_refused_in_one_line(trained_cv, prepared, tmp_path):
    import torch

    from pipelines.face.personal.renderer import PersonalRenderer
    from pipelines.paths import SOURCE_DIR
    from pipelines.persona import Persona
    from pipelines.settings import Settings
    from pipelines.voice.contentvec import _model_class
    from tests.voice_sovits.helpers import tiny_hubert_config

    other = tmp_path / "wide"
    torch.manual_seed(0)
    _model_class()(tiny_hubert_config(hidden_size=48, classifier_proj_size=16)).save_pretrained(str(other))
    s = Settings()
    s.face.personal.checkpoint = trained_cv["weights"]
    s.face.personal.runtime = "torch"
    s.face.personal.contentvec_dir = str(other)
    r = PersonalRenderer.from_settings(s, Persona.load(SOURCE_DIR / "default"), avatar=prepared.idle)
    with pytest.raises(ValueError) as err:
        r.load()
    msg = str(err.value)
    assert "\n" not in msg and "32-dim" in msg and "48" in msg and "face.personal.contentvec_dir" in msg


def test_contentvec_without_an_encoder_is_one_line(capsys, tmp_path, talking_clip):
    from pipelines.__main__ import main

    rc = main(
        [
            "lipsync-train",
            "--out",
            str(tmp_path / "o"),
            str(talking_clip),
            "--min-seconds",
            "2",
            "--audio-features",
            "contentvec",
            "--contentvec",
            "",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "voice.sovits.contentvec_dir" in err[0] and "mel" in err[0]
    assert not (tmp_path / "o").exists()

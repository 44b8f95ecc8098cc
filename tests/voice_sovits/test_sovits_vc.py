"""The ``sovits`` vc backend on a tiny model trained by voice-train (no mocks)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from pipelines.messages import AudioChunk
from pipelines.stage import TurnContext
from pipelines.testing.harness import run_stage

from .conftest import harmonic_score


def convert_chunk(stage, samples, sr, turn_id=1):
    return run_stage(stage, [AudioChunk(turn_id, samples=samples, sample_rate=sr, text="句子")], end_turns=False)


def test_conversion_returns_one_chunk_at_the_model_rate_with_the_input_duration(sovits_stage, tts_like_sentence):
    samples, sr = tts_like_sentence
    (out,) = convert_chunk(sovits_stage, samples, sr)
    assert isinstance(out, AudioChunk) and out.text == "句子" and out.turn_id == 1 and out.seq == 0
    assert out.sample_rate == sovits_stage.voice.sample_rate == 16000
    assert out.samples.dtype == np.float32 and out.samples.ndim == 1
    assert len(out.samples) == round(len(samples) * 16000 / sr)
    assert out.duration == pytest.approx(len(samples) / sr, abs=1e-3)
    assert np.all(np.isfinite(out.samples)) and np.max(np.abs(out.samples)) <= 1.0
    assert np.sqrt(np.mean(out.samples**2)) > 0.01, "voiced input must give audible output"


def test_output_is_not_the_input_resampled(sovits_stage, tts_like_sentence):
    from pipelines.media.audio import resample

    samples, sr = tts_like_sentence
    (out,) = convert_chunk(sovits_stage, samples, sr)
    ref = resample(samples, sr, out.sample_rate)
    corr = np.corrcoef(ref, out.samples)[0, 1]
    assert abs(corr) < 0.5, "the generator must synthesise new audio, not pass the input through"


def test_f0_of_the_output_follows_transpose(sovits_stage, tts_like_sentence):
    samples, sr = tts_like_sentence
    voice, f_in = sovits_stage.voice, 130.0
    shifts = (-5, 0, 5)
    import torch

    outs = {}
    for t in shifts:
        torch.manual_seed(0)  # the generator's noise and the NSF source's phases
        outs[t] = voice.convert(samples, sr, transpose=t, noise_scale=0.4, auto_predict_f0=False)
    for t, y in outs.items():
        scores = {c: harmonic_score(y, voice.sample_rate, f_in * 2 ** (c / 12)) for c in shifts}
        assert max(scores, key=scores.get) == t, f"transpose {t}: harmonic energy per candidate F0 {scores}"


def test_silence_and_very_short_input_give_silence_of_the_same_length(sovits_stage):
    voice = sovits_stage.voice
    silent = voice.convert(np.zeros(22050, np.float32), 22050)
    assert len(silent) == 16000 and not np.any(silent)
    short = voice.convert(np.full(300, 0.3, np.float32), 22050)
    assert len(short) == round(300 * 16000 / 22050) and not np.any(short)


def test_seq_counts_per_turn_and_the_model_stays_loaded_between_turns(sovits_stage, tts_like_sentence):
    samples, sr = tts_like_sentence
    voice = sovits_stage.voice
    chunks = [
        AudioChunk(11, samples=samples[:8000], sample_rate=sr),
        AudioChunk(11, samples=samples[8000:], sample_rate=sr),
    ]
    out = run_stage(sovits_stage, chunks + [AudioChunk(12, samples=samples, sample_rate=sr)])
    assert [(m.turn_id, m.seq) for m in out] == [(11, 0), (11, 1), (12, 0)]  # numbered by the worker, per turn
    assert sovits_stage.voice is voice
    with pytest.raises(TypeError, match="AudioChunk"):
        from pipelines.messages import Sentence

        list(sovits_stage.process(Sentence(12, "x"), TurnContext(12)))


def test_speaker_from_config_and_unknown_speaker_is_a_clear_error(sovits_stage):
    voice = sovits_stage.voice
    assert voice.speaker_name("") == "alice" and list(voice.speakers) == ["alice"]
    with pytest.raises(ValueError, match="speaker 'bob' is not in .*known: alice"):
        voice.convert(np.ones(16000, np.float32) * 0.1, 16000, speaker="bob")


def test_f0_methods_all_convert(sovits_stage, tts_like_sentence):
    samples, sr = tts_like_sentence
    for method in ("dio", "harvest", "parselmouth", "crepe-tiny"):
        y = sovits_stage.voice.convert(samples[:11025], sr, f0_method=method)
        assert len(y) == 8000 and np.sqrt(np.mean(y**2)) > 0.01, method
    with pytest.raises(ValueError, match="f0_method"):
        sovits_stage.voice.convert(samples, sr, f0_method="yin")


def test_cluster_model_blends_content_and_is_required_when_ratio_is_set(
    voice_dir, contentvec_dir, tmp_path, tts_like_sentence
):
    import torch

    from pipelines.voice.sovits_vc import SovitsVoice

    folder = tmp_path / "with_cluster"
    shutil.copytree(voice_dir, folder)
    no_cluster = SovitsVoice(folder, contentvec_dir)
    with pytest.raises(ValueError, match="no cluster model"):
        no_cluster.convert(np.ones(8000, np.float32) * 0.1, 16000, cluster_ratio=0.5)
    dim = json.loads((folder / "config.json").read_text())["model"]["ssl_dim"]
    centers = np.random.default_rng(0).standard_normal((8, dim)).astype(np.float32)
    torch.save(
        {"alice": {"n_features_in_": dim, "_n_threads": 1, "cluster_centers_": centers}}, folder / "kmeans_10000.pt"
    )
    voice = SovitsVoice(folder, contentvec_dir)
    samples, sr = tts_like_sentence
    torch.manual_seed(0)
    plain = voice.convert(samples, sr, noise_scale=0.0, cluster_ratio=0.0)
    torch.manual_seed(0)
    blended = voice.convert(samples, sr, noise_scale=0.0, cluster_ratio=1.0)
    assert len(blended) == len(plain)
    assert np.sqrt(np.mean((blended - plain) ** 2)) > 1e-3, "cluster_ratio 1 must change the content"


# -- clear errors -----------------------------------------------------------------
def _stage_error(settings, persona, **voice_changes):
    from pipelines.voice.sovits_vc import SovitsConversion

    voice = dataclasses.replace(settings.voice, sovits=dataclasses.replace(settings.voice.sovits, **voice_changes))
    s = dataclasses.replace(settings, voice=voice)
    with pytest.raises(Exception) as info:
        SovitsConversion.from_settings(s, persona).load()
    return str(info.value)


def test_missing_model_folder_checkpoint_and_config_are_clear_errors(sovits_settings, persona, voice_dir, tmp_path):
    assert "voice.sovits.model_dir is empty" in _stage_error(sovits_settings, persona, model_dir="")
    assert "model folder not found" in _stage_error(sovits_settings, persona, model_dir=str(tmp_path / "nope"))
    no_g = tmp_path / "no_g"
    no_g.mkdir()
    shutil.copy(voice_dir / "config.json", no_g / "config.json")
    assert "no generator checkpoint G_*.pth" in _stage_error(sovits_settings, persona, model_dir=str(no_g))
    no_cfg = tmp_path / "no_cfg"
    no_cfg.mkdir()
    shutil.copy(voice_dir / "G_1.pth", no_cfg / "G_1.pth")
    assert "no config.json" in _stage_error(sovits_settings, persona, model_dir=str(no_cfg))
    msg = _stage_error(sovits_settings, persona, checkpoint="G_999.pth")
    assert "G_999.pth" in msg and "G_1.pth" in msg


def test_corrupt_checkpoint_and_config_are_clear_errors(sovits_settings, persona, voice_dir, tmp_path):
    bad = tmp_path / "truncated"
    shutil.copytree(voice_dir, bad)
    data = (bad / "G_1.pth").read_bytes()
    (bad / "G_1.pth").write_bytes(data[: len(data) // 3])
    msg = _stage_error(sovits_settings, persona, model_dir=str(bad))
    assert "G_1.pth: not a readable checkpoint" in msg and "truncated" in msg

    d_only = tmp_path / "d_as_g"
    shutil.copytree(voice_dir, d_only)
    import torch

    torch.save({"iteration": 1}, d_only / "G_1.pth")
    assert "not a so-vits generator checkpoint" in _stage_error(sovits_settings, persona, model_dir=str(d_only))

    broken = tmp_path / "bad_json"
    shutil.copytree(voice_dir, broken)
    (broken / "config.json").write_text('{"train": {"segment_size": 2560,,}')
    assert "config.json: not valid JSON (line 1" in _stage_error(sovits_settings, persona, model_dir=str(broken))

    other = tmp_path / "mismatch"
    shutil.copytree(voice_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["model"]["ssl_dim"] = 256
    (other / "config.json").write_text(json.dumps(cfg))
    msg = _stage_error(sovits_settings, persona, model_dir=str(other))
    assert "does not match" in msg and "pre.weight" in msg


def test_missing_or_wrong_contentvec_is_a_clear_error(sovits_settings, persona, tmp_path):
    assert "voice.sovits.contentvec_dir is empty" in _stage_error(sovits_settings, persona, contentvec_dir="")
    assert "ContentVec encoder not found" in _stage_error(
        sovits_settings, persona, contentvec_dir=str(tmp_path / "missing")
    )
    empty = tmp_path / "empty_cv"
    empty.mkdir()
    assert "neither a Hugging Face HuBERT folder" in _stage_error(sovits_settings, persona, contentvec_dir=str(empty))


def test_registry_builds_the_sovits_backend(sovits_settings, persona):
    from pipelines.registry import build_stage

    stage = build_stage("vc", sovits_settings, persona)
    assert type(stage).__name__ == "SovitsConversion" and stage.name == "vc" and stage.backend == "sovits"

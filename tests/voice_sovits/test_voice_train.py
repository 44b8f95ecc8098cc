"""``python -m pipelines voice-train``: clip checks, a loadable output folder, resume, refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from .helpers import voiced_clip, write_clips


def test_training_writes_a_folder_the_backend_loads(trained_voice, voice_dir):
    result, lines = trained_voice
    assert "5 of 5 clips usable, 0.1 min in total" in lines[0]
    assert any(l.startswith("advice: only") and "10-30 minutes" in l for l in lines)
    assert any(l.startswith("epoch 1/1") and "loss g" in l for l in lines)
    assert result.epoch == 1 and result.steps == 1 and np.isfinite(result.losses["g"])
    names = {p.name for p in voice_dir.iterdir()}
    assert {"config.json", "G_1.pth", "D_1.pth"} <= names
    assert not voice_dir.with_name(voice_dir.name + ".partial").exists()
    cfg = json.loads((voice_dir / "config.json").read_text())
    assert cfg["spk"] == {"alice": 0} and cfg["data"]["sampling_rate"] == 16000
    assert cfg["model"]["ssl_dim"] == 32 and cfg["model"]["speech_encoder"] == "vec768l12"
    assert "contentvec_final_proj" not in cfg["data"] and "type_" not in cfg["model"]
    from pipelines.voice.sovits_loader import find_model

    assert find_model(voice_dir).checkpoint == voice_dir / "G_1.pth"


def test_cli_refuses_too_few_clips_with_a_message(tmp_path, contentvec_dir, capsys):
    from pipelines.__main__ import main

    clips = write_clips(tmp_path / "few", n=4, seconds=1.0)
    out = tmp_path / "voice"
    code = main(
        [
            "voice-train",
            "--clips",
            str(clips),
            "--out",
            str(out),
            "--contentvec",
            str(contentvec_dir),
            "--size",
            "tiny",
            "--epochs",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "found 4 usable clips" in err and "at least 5 are needed" in err
    assert not out.exists() and not (tmp_path / "voice.partial").exists()


def test_cli_without_contentvec_says_what_to_pass(tmp_path, capsys):
    from pipelines.voice.train_cli import main

    settings = tmp_path / "s.json"
    settings.write_text("{}")
    code = main(["--clips", str(tmp_path), "--out", str(tmp_path / "v"), "--settings", str(settings)])
    assert code == 2 and "--contentvec" in capsys.readouterr().err


def test_clip_checks_leave_out_silent_low_rate_and_short_clips_and_warn_about_clipping(tmp_path):
    from pipelines.voice.voice_train import VoiceTrainError, check_clips

    d = write_clips(tmp_path / "mixed", n=5, seconds=1.0)
    sf.write(str(d / "silent.wav"), np.zeros(16000, np.float32), 16000)
    sf.write(str(d / "phone.wav"), voiced_clip(150, 1.0, 8000), 8000)
    sf.write(str(d / "blip.wav"), voiced_clip(150, 0.2, 16000), 16000)
    loud = np.clip(voiced_clip(150, 1.0, 44100) * 4, -1, 1)
    sf.write(str(d / "loud.wav"), loud, 44100)
    (d / "broken.wav").write_bytes(b"RIFF....nonsense")
    report = check_clips(d, model_rate=44100)
    text = "\n".join(report.lines())
    assert len(report.usable) == 6 and len(report.clips) == 10
    assert "left out silent.wav: silent" in text
    assert "left out phone.wav: sample rate 8000 Hz is below 16000 Hz" in text
    assert "left out blip.wav: too short" in text
    assert "left out broken.wav: unreadable" in text
    assert "warning  loud.wav: clipped" in text
    assert "warning  clip_00.wav: sample rate 16000 Hz is below the model's 44100 Hz" in text
    for name in ("clip_00.wav", "clip_01.wav"):
        (d / name).unlink()
    with pytest.raises(VoiceTrainError, match="found 4 usable clips"):
        check_clips(d, model_rate=44100)


def test_second_run_resumes_from_the_newest_checkpoint(voice_dir, clips_dir, contentvec_dir, tmp_path):
    from pipelines.voice.voice_train import TrainOptions, train_voice

    out = tmp_path / "alice"
    shutil.copytree(voice_dir, out)
    lines: list[str] = []
    result = train_voice(
        TrainOptions(
            clips=clips_dir, out=out, contentvec=contentvec_dir, size="tiny", epochs=2, batch_size=5, log=lines.append
        )
    )
    assert any("resuming the voice" in l for l in lines)
    assert any(l.startswith("features: 5 pieces reused") for l in lines)
    assert any("resumed from G_1.pth (epoch 1)" in l for l in lines)
    assert result.epoch == 2 and result.steps == 1 and result.checkpoint == out / "G_2.pth"
    assert (out / "G_1.pth").exists() and (out / "D_2.pth").exists()
    import torch

    assert torch.load(out / "G_2.pth", weights_only=True)["iteration"] == 2
    again: list[str] = []
    train_voice(
        TrainOptions(clips=clips_dir, out=out, contentvec=contentvec_dir, size="tiny", epochs=2, log=again.append)
    )
    assert any("already trained for 2 epochs" in l for l in again)


def test_an_existing_folder_that_is_not_a_voice_is_left_alone(tmp_path, clips_dir, contentvec_dir):
    from pipelines.voice.voice_train import TrainOptions, VoiceTrainError, train_voice

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(VoiceTrainError, match="not a so-vits voice folder"):
        train_voice(TrainOptions(clips=clips_dir, out=out, contentvec=contentvec_dir, size="tiny", epochs=1))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# the key sets of so-vits-svc 4.1's configs_template/config_template.json, copied by hand
TEMPLATE_41 = {
    "train": {
        "log_interval",
        "eval_interval",
        "seed",
        "epochs",
        "learning_rate",
        "betas",
        "eps",
        "batch_size",
        "fp16_run",
        "half_type",
        "lr_decay",
        "segment_size",
        "init_lr_ratio",
        "warmup_epochs",
        "c_mel",
        "c_kl",
        "use_sr",
        "max_speclen",
        "port",
        "keep_ckpts",
        "all_in_mem",
        "vol_aug",
    },
    "data": {
        "training_files",
        "validation_files",
        "max_wav_value",
        "sampling_rate",
        "filter_length",
        "hop_length",
        "win_length",
        "n_mel_channels",
        "mel_fmin",
        "mel_fmax",
        "unit_interpolate_mode",
    },
    "model": {
        "inter_channels",
        "hidden_channels",
        "filter_channels",
        "n_heads",
        "n_layers",
        "kernel_size",
        "p_dropout",
        "resblock",
        "resblock_kernel_sizes",
        "resblock_dilation_sizes",
        "upsample_rates",
        "upsample_initial_channel",
        "upsample_kernel_sizes",
        "n_layers_q",
        "n_layers_trans_flow",
        "n_flow_layer",
        "use_spectral_norm",
        "gin_channels",
        "ssl_dim",
        "n_speakers",
        "vocoder_name",
        "speech_encoder",
        "speaker_embedding",
        "vol_embedding",
        "use_depthwise_conv",
        "flow_share_parameter",
        "use_automatic_f0_prediction",
        "use_transformer_flow",
    },
}


def test_full_4_1_config_has_the_original_template_keys_and_values():
    from pipelines.voice.voice_train import make_config

    cfg = make_config("full", 768, False, "alice", layout="4.1")
    assert {k: set(cfg[k]) for k in TEMPLATE_41} == TEMPLATE_41 and cfg["spk"] == {"alice": 0}
    m, d = cfg["model"], cfg["data"]
    assert (m["speech_encoder"], m["ssl_dim"], m["vocoder_name"], m["vol_embedding"]) == (
        "vec768l12",
        768,
        "nsf-hifigan",
        False,
    )
    assert (d["sampling_rate"], d["hop_length"], d["filter_length"], d["unit_interpolate_mode"]) == (
        44100,
        512,
        2048,
        "nearest",
    )
    assert m["upsample_rates"] == [8, 8, 2, 2, 2] and m["upsample_kernel_sizes"] == [16, 16, 4, 4, 4]
    assert make_config("full", 256, True, "a", layout="4.1")["model"]["speech_encoder"] == "vec256l9"
    fork = make_config("full", 768, False, "a", layout="fork")
    assert fork["data"]["contentvec_final_proj"] is False and fork["model"]["type_"] == "hifi-gan"


def test_a_trained_4_1_voice_loads_with_its_own_layout(voice_dir, contentvec_dir):
    from pipelines.voice.sovits_vc import SovitsVoice

    voice = SovitsVoice(voice_dir, contentvec_dir)
    assert (voice.spec.family, voice.spec.speech_encoder, voice.spec.interpolate) == ("4.1", "vec768l12", "nearest")

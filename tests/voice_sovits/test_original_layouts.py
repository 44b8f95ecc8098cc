"""so-vits-svc models in the original repository's layouts (4.0, 4.1 vec768l12 with and without the volume
embedding, nsf-snake-hifigan, release files) load and convert; the clear errors of issue 13."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from .helpers import voiced_clip
from .original_layout import (
    compress,
    config_for,
    random_generator,
    save_checkpoint,
    write_model,
)

LAYOUTS = ("4.0", "4.1", "4.1-vol", "4.1-snake", "4.1-vec256l9")
# names written by the original SynthesizerTrn (models.py, vdecoder/*/models.py, modules/*), by hand
ORIGINAL_NAMES = [
    "emb_g.weight",
    "pre.weight",
    "enc_p.f0_emb.weight",
    "enc_p.proj.weight",
    "enc_p.enc_.attn_layers.0.conv_q.weight",
    "enc_p.enc_.attn_layers.0.emb_rel_k",
    "dec.conv_pre.weight_g",
    "dec.ups.0.weight_v",
    "dec.noise_convs.0.weight",
    "dec.resblocks.0.convs1.0.weight_g",
    "dec.resblocks.0.convs2.2.weight_v",
    "dec.m_source.l_linear.weight",
    "dec.cond.weight",
    "dec.conv_post.weight_g",
    "enc_q.pre.weight",
    "enc_q.enc.in_layers.0.weight_g",
    "flow.flows.0.enc.in_layers.0.weight_g",
    "flow.flows.6.post.weight",
    "f0_decoder.prenet.weight",
    "f0_decoder.decoder.self_attn_layers.0.conv_q.weight",
    "f0_decoder.f0_prenet.weight",
    "f0_decoder.cond.weight",
    "emb_uv.weight",
]
SNAKE_NAMES = [
    f"{m}.{p}"
    for m in ("dec.snakes.0", "dec.snakes.2", "dec.resblocks.2.activations.5", "dec.snake_post")
    for p in ("act.alpha", "act.beta", "upsample.filter", "downsample.lowpass.filter")
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("original")
    return {layout: write_model(root / layout.replace(".", "_"), layout) for layout in LAYOUTS}


@pytest.fixture(scope="module")
def voices(models, contentvec_dir):
    from pipelines.voice.sovits_vc import SovitsVoice

    return {layout: SovitsVoice(folder, contentvec_dir) for layout, folder in models.items()}


@pytest.fixture(scope="module")
def sentence():
    return voiced_clip(140.0, 1.0, 16000, seed=3, vibrato=0.0), 16000


def test_fixtures_carry_the_original_names_and_wrapper(models):
    ckpt = torch.load(models["4.1-snake"] / "G_100.pth", weights_only=True)
    assert set(ckpt) == {"model", "iteration", "optimizer", "learning_rate"} and ckpt["iteration"] == 100
    names = set(ckpt["model"])
    assert set(ORIGINAL_NAMES + SNAKE_NAMES) <= names
    assert len([k for k in names if ".activations." in k or k.startswith("dec.snake")]) == (3 + 3 * 6 + 1) * 4
    vol = set(torch.load(models["4.1-vol"] / "G_100.pth", weights_only=True)["model"])
    assert {"emb_vol.weight", "emb_vol.bias"} <= vol and not any(".activations." in k for k in vol)
    cfg = json.loads((models["4.0"] / "config.json").read_text())
    assert "speech_encoder" not in cfg["model"] and "vol_embedding" not in cfg["model"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_loads_and_converts(voices, layout, sentence):
    voice = voices[layout]
    expect = {"4.0": ("4.0", "vec256l9"), "4.1-vec256l9": ("4.1", "vec256l9")}.get(layout, ("4.1", "vec768l12"))
    assert (voice.spec.family, voice.spec.speech_encoder) == expect
    assert voice.spec.vol_embedding == (layout == "4.1-vol")
    assert voice.spec.vocoder == ("nsf-snake-hifigan" if layout == "4.1-snake" else "nsf-hifigan")
    y = voice.convert(*sentence)
    assert y.shape == (16000,) and np.all(np.isfinite(y)) and np.sqrt(np.mean(y**2)) > 1e-3


def test_content_units_come_from_the_layer_and_projection_the_encoder_names(voices, sentence):
    from pipelines.voice.contentvec import content_units

    wav = torch.from_numpy(sentence[0])[None]
    v768, v256 = voices["4.1"], voices["4.1-vec256l9"]
    with torch.no_grad():
        hidden = v768.hubert(wav, output_hidden_states=True)["hidden_states"]
    torch.testing.assert_close(content_units(v768.hubert, wav, 12, False), hidden[-1].transpose(1, 2))
    # the tiny encoder has 2 layers: layer 9 is its last; then final_proj (16-dim here, 256 in ContentVec)
    torch.testing.assert_close(
        content_units(v256.hubert, wav, 9, True), v256.hubert.final_proj(hidden[-1]).transpose(1, 2)
    )


def test_volume_embedding_uses_the_input_volume(voices, sentence):
    voice = voices["4.1-vol"]
    x, sr = sentence
    a = voice.convert(x, sr, auto_predict_f0=False)
    b = voice.convert(x * 0.3, sr, auto_predict_f0=False)
    voice.net.vol_embedding = False
    try:
        c = voice.convert(x * 0.3, sr, auto_predict_f0=False)
    finally:
        voice.net.vol_embedding = True
    assert np.sqrt(np.mean((a - b) ** 2)) > 1e-3 and np.sqrt(np.mean((b - c) ** 2)) > 1e-3


def test_volume_matches_the_original_volume_extractor():
    from pipelines.voice.sovits_models import volume_of

    x = torch.randn(1, 1600)
    v = volume_of(x, 160)
    padded = torch.nn.functional.pad(x**2, (80, 80), mode="reflect")[0]
    want = torch.stack([padded[i * 160 : (i + 1) * 160].mean().sqrt() for i in range(10)])
    torch.testing.assert_close(v, want)


def test_decoder_f0_follows_transpose_without_auto_prediction(voices, sentence):
    voice = voices["4.1"]
    f0s = {}
    for t in (0, 5):
        voice.convert(*sentence, transpose=t, auto_predict_f0=False)
        f0s[t] = voice.last_f0.copy()
    voiced = f0s[0] > 0
    np.testing.assert_allclose(f0s[5][voiced] / f0s[0][voiced], 2 ** (5 / 12), rtol=1e-4)
    assert 120 < np.median(f0s[0][voiced]) < 160


def test_auto_predict_f0_changes_the_f0_the_decoder_receives(voices, sentence):
    voice = voices["4.1"]
    voice.convert(*sentence, auto_predict_f0=False)
    extracted = voice.last_f0.copy()
    y = voice.convert(*sentence, auto_predict_f0=True)
    predicted = voice.last_f0.copy()
    assert predicted.shape == extracted.shape and np.all(np.isfinite(y))
    assert np.mean(np.abs(predicted - extracted)) > 1.0


def test_loudness_match_moves_the_envelope_towards_the_input(voices, sentence):
    voice = voices["4.1"]
    x, sr = sentence
    quiet = x.copy()
    quiet[8000:] *= 0.05
    plain = voice.convert(quiet, sr, auto_predict_f0=False)
    matched = voice.convert(quiet, sr, auto_predict_f0=False, loudness_match=1.0)

    def ratio(y):
        return np.sqrt(np.mean(y[10000:15000] ** 2)) / np.sqrt(np.mean(y[1000:6000] ** 2))

    assert ratio(matched) < ratio(plain)


def test_fcpe_f0_method_tracks_the_pitch(voices, sentence):
    voice = voices["4.1"]
    f0, uv = voice.f0_uv(sentence[0], "fcpe")
    assert len(f0) == 100 and uv[20:80].all()
    assert abs(np.median(f0[20:80]) - 140.0) < 5


def test_release_file_alone_in_a_folder_is_found_and_loads(models, contentvec_dir, tmp_path, sentence):
    from pipelines.voice.sovits_vc import SovitsVoice

    folder = tmp_path / "release"
    folder.mkdir()
    shutil.copy(models["4.1-vol"] / "config.json", folder / "config.json")
    compress(models["4.1-vol"] / "G_100.pth", folder / "G_100_release_half.pth")
    voice = SovitsVoice(folder, contentvec_dir)
    assert voice.files.checkpoint.name == "G_100_release_half.pth"
    assert not hasattr(voice.net, "enc_q") and next(voice.net.parameters()).dtype == torch.float32
    full = SovitsVoice(models["4.1-vol"], contentvec_dir)
    a, b = voice.convert(*sentence), full.convert(*sentence)
    assert np.corrcoef(a, b)[0, 1] > 0.95
    compress(models["4.1"] / "G_100.pth", tmp_path / "mine.pth", half=False)
    named = SovitsVoice(models["4.1"], contentvec_dir, checkpoint=str(tmp_path / "mine.pth"))
    assert named.files.checkpoint == tmp_path / "mine.pth"


def test_loading_prints_no_library_warnings(models, contentvec_dir, capfd):
    from pipelines.voice.sovits_vc import SovitsVoice

    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SovitsVoice(models["4.1-snake"], contentvec_dir)
    assert [str(w.message)[:80] for w in caught] == []
    out, err = capfd.readouterr()
    assert out == "" and err == "", "no progress bars or notices while loading"


# -- one-line errors ------------------------------------------------------------------
def _load_error(folder, contentvec_dir, **kw) -> str:
    from pipelines.voice.sovits_vc import SovitsVoice

    with pytest.raises(Exception) as info:
        SovitsVoice(folder, contentvec_dir, **kw)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def _variant(models, tmp_path, layout, name, edit=None, state_edit=None):
    folder = tmp_path / name
    shutil.copytree(models[layout], folder)
    if edit:
        cfg = json.loads((folder / "config.json").read_text())
        edit(cfg)
        (folder / "config.json").write_text(json.dumps(cfg))
    if state_edit:
        ckpt = torch.load(folder / "G_100.pth", weights_only=True)
        state_edit(ckpt["model"])
        torch.save(ckpt, folder / "G_100.pth")
    return folder


def test_kmeans_of_another_dimension_is_refused(models, contentvec_dir, tmp_path):
    folder = _variant(models, tmp_path, "4.1", "kmeans")
    torch.save(
        {"alice": {"n_features_in_": 768, "cluster_centers_": np.zeros((4, 768), np.float32)}},
        folder / "kmeans_10000.pt",
    )
    msg = _load_error(folder, contentvec_dir)
    assert "768-dim" in msg and "32-dim" in msg and "kmeans" in msg


def test_discriminator_given_as_the_generator_is_named(models, contentvec_dir, tmp_path):
    from so_vits_svc_fork.modules.descriminators import MultiPeriodDiscriminator

    folder = _variant(models, tmp_path, "4.1", "d_as_g")
    torch.save(
        {"model": MultiPeriodDiscriminator().state_dict(), "iteration": 100, "optimizer": {}, "learning_rate": 1e-4},
        folder / "D_100.pth",
    )
    msg = _load_error(folder, contentvec_dir, checkpoint="D_100.pth")
    assert "discriminator" in msg and "G_*.pth" in msg and "another so-vits version" not in msg


def test_4_0_v2_and_other_families_are_named(models, contentvec_dir, tmp_path):
    v2 = _variant(models, tmp_path, "4.1", "v2", edit=lambda c: c["model"].update(n_harmonic=64, n_bands=65))
    assert "4.0-v2 (VISinger2)" in _load_error(v2, contentvec_dir)
    rvc = _variant(
        models, tmp_path, "4.1", "rvc", state_edit=lambda s: s.update({"enc_p.emb_phone.weight": torch.zeros(2, 2)})
    )
    assert "RVC" in _load_error(rvc, contentvec_dir)


@pytest.mark.parametrize(
    "option,value,words",
    [
        ("speech_encoder", "hubertsoft", "speech_encoder 'hubertsoft' is not supported"),
        ("speech_encoder", "whisper-ppg", "speech_encoder 'whisper-ppg' is not supported"),
        ("use_transformer_flow", True, "use_transformer_flow is on"),
        ("use_depthwise_conv", True, "use_depthwise_conv is on"),
        ("vocoder_name", "ddsp", "vocoder_name 'ddsp' is not supported"),
    ],
)
def test_unsupported_options_are_refused_by_name(models, contentvec_dir, tmp_path, option, value, words):
    folder = _variant(
        models, tmp_path, "4.1", f"opt_{option}_{value}", edit=lambda c: c["model"].update({option: value})
    )
    assert words in _load_error(folder, contentvec_dir)


def test_weights_the_config_does_not_use_are_refused_not_dropped(models, contentvec_dir, tmp_path):
    snake_as_plain = _variant(
        models, tmp_path, "4.1-snake", "snake_plain", edit=lambda c: c["model"].update(vocoder_name="nsf-hifigan")
    )
    msg = _load_error(snake_as_plain, contentvec_dir)
    assert "does not use" in msg and "nsf-snake-hifigan" in msg
    vol_off = _variant(models, tmp_path, "4.1-vol", "vol_off", edit=lambda c: c["model"].update(vol_embedding=False))
    msg = _load_error(vol_off, contentvec_dir)
    assert "emb_vol" in msg and "vol_embedding true" in msg
    vol_on = _variant(models, tmp_path, "4.1", "vol_on", edit=lambda c: c["model"].update(vol_embedding=True))
    assert "emb_vol" in _load_error(vol_on, contentvec_dir)


def test_sampling_rate_and_config_contradictions_are_named(models, contentvec_dir, tmp_path):
    def other_rates(c):
        c["model"].update(upsample_rates=[4, 5, 8], upsample_kernel_sizes=[8, 15, 16])

    hop = _variant(models, tmp_path, "4.1", "rates", edit=other_rates)
    msg = _load_error(hop, contentvec_dir)
    assert "not the one this model was trained with" in msg and "x20" in msg

    def four_stages(c):  # e.g. a 32 kHz model's config (hop 320 = 10·8·2·2) against the 16 kHz (8·5·4) model
        c["data"].update(sampling_rate=32000, hop_length=320)
        c["model"].update(upsample_rates=[10, 8, 2, 2], upsample_kernel_sizes=[20, 16, 4, 4])

    msg = _load_error(_variant(models, tmp_path, "4.1", "stages", edit=four_stages), contentvec_dir)
    assert "3 upsampling stages" in msg and "have 4" in msg and "sampling_rate 32000" in msg
    contra = _variant(models, tmp_path, "4.1", "hop", edit=lambda c: c["data"].update(hop_length=512))
    assert "contradicts itself" in _load_error(contra, contentvec_dir)


def test_encoder_dimension_against_ssl_dim_is_a_clear_error(models, contentvec_dir, tmp_path):
    cfg = config_for("4.1")
    cfg["model"]["ssl_dim"] = 16  # a 256-style size with vec768l12
    folder = tmp_path / "dims"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    save_checkpoint(random_generator(cfg), folder / "G_1.pth")
    msg = _load_error(folder, contentvec_dir)
    assert "32-dim units for vec768l12" in msg and "ssl_dim 16" in msg


def test_so_vits_svc_fork_layout_still_loads(contentvec_dir, tmp_path, sentence):
    from pipelines.voice import sovits_compat

    sovits_compat.import_fork()
    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

    from pipelines.voice.sovits_loader import fork_generator_kwargs
    from pipelines.voice.sovits_vc import SovitsVoice
    from pipelines.voice.voice_train import make_config

    cfg = make_config("tiny", 32, False, "carol", layout="fork")
    folder = tmp_path / "fork"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.manual_seed(0)
    net = SynthesizerTrn(257, 16, **fork_generator_kwargs(cfg))
    save_checkpoint(net, folder / "G_7.pth", iteration=7)
    voice = SovitsVoice(folder, contentvec_dir)
    assert (voice.spec.family, voice.spec.speech_encoder, voice.spec.interpolate) == ("fork", "vec768l12", "fork")
    y = voice.convert(*sentence)
    assert y.shape == (16000,) and np.all(np.isfinite(y))


def test_vec768l12_takes_layer_12_and_vec256l9_layer_9_of_a_deeper_encoder():
    from pipelines.voice.contentvec import _model_class, content_units

    from .helpers import tiny_hubert_config

    torch.manual_seed(0)
    model = _model_class()(tiny_hubert_config(num_hidden_layers=13)).eval()
    wav = torch.randn(1, 4000)
    with torch.no_grad():
        hidden = model(wav, output_hidden_states=True)["hidden_states"]  # [input, layer 1 … layer 13]
        torch.testing.assert_close(content_units(model, wav, 12, False), hidden[12].transpose(1, 2))
        torch.testing.assert_close(content_units(model, wav, 9, True), model.final_proj(hidden[9]).transpose(1, 2))
    assert not torch.allclose(hidden[12], hidden[13])

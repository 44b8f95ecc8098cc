"""The ONNX graphs compute what the PyTorch so-vits path computes (tiny and DL-B-sized random models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.voice.sovits_onnx import export as ex
from pipelines.voice.sovits_onnx.runtime import session

from .conftest import log_mel_corr


def _stretch(net, ssl_dim: int, frames: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(1, ssl_dim, frames, generator=g)
    f0 = 150 + 60 * torch.sin(torch.arange(frames)[None] / 7.0)
    uv = torch.ones(1, frames)
    uv[:, : frames // 5] = 0  # an unvoiced start
    return c, f0.float(), uv


def _graph_vs_infer(voice, tmp_path, predict_f0: bool, frames: int) -> tuple[float, float, float]:
    net, ssl = voice.net, int(voice.config["model"]["ssl_dim"])
    c, f0, uv = _stretch(net, ssl, frames)
    ref, f0_ref = net.infer(c, f0=f0, g=torch.LongTensor([[1]]), uv=uv, predict_f0=predict_f0, noice_scale=0.4)
    path = ex.export_generator(net, tmp_path / f"gen{int(predict_f0)}.onnx", predict_f0, ssl)
    feeds = ex.generator_inputs(net, c.numpy(), f0.numpy(), uv.numpy(), 1, 0.4)
    audio, f0_out = session(path, 2).run(None, feeds)
    ref = ref.numpy()
    err = float(np.max(np.abs(audio - ref)))
    return err, float(np.max(np.abs(f0_out - f0_ref.numpy()))), float(np.max(np.abs(ref)))


@pytest.mark.parametrize("predict_f0", [True, False])
def test_tiny_generator_graph_equals_torch_infer_for_the_same_seed(torch_voice, tmp_path, predict_f0):
    err, f0_err, peak = _graph_vs_infer(torch_voice, tmp_path, predict_f0, frames=60)
    assert peak > 1e-3, "the reference must not be silence"
    assert err < 1e-4 and f0_err < 1e-2


def test_the_noise_inputs_are_what_infer_draws(torch_voice):
    """Another seed gives other audio: the graph's noise inputs really drive the output."""
    net = torch_voice.net
    a = ex.noise_inputs(net, 20, seed=1)
    b = ex.noise_inputs(net, 20, seed=2)
    assert a["z_noise"].shape == (1, net.enc_p.out_channels, 20)
    assert a["sine_noise"].shape == (1, 20 * net.dec.upp, net.dec.m_source.l_sin_gen.dim)
    assert a["phase"][0, 0] == 0 and not np.allclose(a["z_noise"], b["z_noise"])


def test_tiny_contentvec_graph_equals_torch(torch_voice, tmp_path):
    from pipelines.voice.contentvec import content_units

    v = torch_voice
    path = ex.export_contentvec(v.hubert, tmp_path / "cv.onnx", v.spec.content_layer, v.spec.final_proj)
    wav = torch.from_numpy(np.random.default_rng(4).standard_normal((1, 27000)).astype(np.float32) * 0.1)
    ref = content_units(v.hubert, wav, v.spec.content_layer, v.spec.final_proj).numpy()
    (out,) = session(path, 2).run(None, {ex.CV_INPUT: wav.numpy()})
    assert out.shape == ref.shape and float(np.max(np.abs(out - ref))) < 1e-4 * max(1.0, float(np.abs(ref).max()))


def test_fp32_onnx_voice_converts_as_the_torch_voice(torch_voice, onnx_voice, speech):
    samples, sr = speech
    ref = torch_voice.convert(samples, sr)
    out = onnx_voice.convert(samples, sr)
    assert len(out) == len(ref) and np.sqrt(np.mean(ref**2)) > 1e-3
    assert float(np.max(np.abs(out - ref))) < 1e-3
    assert log_mel_corr(ref, out, torch_voice.sample_rate) > 0.999
    assert onnx_voice.net is None and onnx_voice.hubert is None, "the torch models are dropped"


def test_int8_voice_stays_close_to_fp32(onnx_voice, int8_voice, speech):
    """The int8 models (calibrated on espeak speech) keep the log-mel of the fp32 output (corr >= 0.98),
    a small mean log-mel distance, and the F0 the generator synthesises at (random weights: the output
    itself has no clear pitch for an estimator)."""
    samples, sr = speech
    ref = onnx_voice.convert(samples, sr)
    out = int8_voice.convert(samples, sr)
    rate = onnx_voice.sample_rate
    assert "int8" in int8_voice.paths.generator.name and "int8" in int8_voice.paths.contentvec.name
    assert log_mel_corr(ref, out, rate) >= 0.98
    from .conftest import log_mel

    assert float(np.mean(np.abs(log_mel(ref, rate) - log_mel(out, rate)))) < 1.0
    ref = onnx_voice.convert(samples, sr)  # the F0 the decoder received (predicted from the units)
    fa = onnx_voice.last_f0.copy()
    int8_voice.convert(samples, sr)
    fb = int8_voice.last_f0
    both = (fa > 20) & (fb > 20)
    assert fa.shape == fb.shape and both.sum() > 20, (fa.min(), fa.max(), fb.min(), fb.max())
    assert float(np.median(np.abs(np.log2(fb[both] / fa[both])))) < 0.05  # median within ~3.5 %


def test_dlb_sized_model_graphs_equal_torch(tmp_path):
    """One short run at DL-B's sizes (so-vits 4.0, 44.1 kHz, HuBERT-base ContentVec): both graphs as torch."""
    from pipelines.testing.sovits_random import write_dlb_voice
    from pipelines.voice.contentvec import content_units
    from pipelines.voice.sovits_vc import SovitsVoice

    model, cv = write_dlb_voice(tmp_path)
    voice = SovitsVoice(model, cv)
    assert voice.spec.family == "4.0" and voice.sample_rate == 44100 and voice.spec.final_proj
    err, f0_err, peak = _graph_vs_infer(voice, tmp_path, True, frames=24)
    assert peak > 1e-3 and err < 1e-3 * max(1.0, peak) and f0_err < 0.05
    v = voice
    path = ex.export_contentvec(v.hubert, tmp_path / "cv.onnx", v.spec.content_layer, v.spec.final_proj)
    wav = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 8000)).astype(np.float32) * 0.1)
    ref = content_units(v.hubert, wav, v.spec.content_layer, v.spec.final_proj).numpy()
    (out,) = session(path, 2).run(None, {ex.CV_INPUT: wav.numpy()})
    assert out.shape == ref.shape == (1, 256, 24) or out.shape == ref.shape
    assert float(np.max(np.abs(out - ref))) < 1e-3 * max(1.0, float(np.abs(ref).max()))

"""The two halves of the so-vits path as ONNX graphs: the ContentVec encoder and the generator.

As so-vits-svc's own ``onnx_export.py`` (svc-develop-team, ``onnxexport/model_onnx.py``), the
generator's random draws become inputs, so the graph is a pure function and the runtime feeds it
the very numbers ``SynthesizerTrn.infer`` draws from its seed (``noise_inputs``): with the same
seed ONNX Runtime and PyTorch compute the same thing, and the check compares them sample by sample.

* ``contentvec``: ``wav16k (1, N)`` → ``units (1, D, frames)`` (the layer the model's
  ``speech_encoder`` names, through ``final_proj`` for 256-dim units), dynamic ``N``;
* ``generator``: ``c (1, ssl_dim, T)``, ``f0 (1, T)``, ``uv (1, T)``, ``sid (1,)`` int64,
  ``noise_scale (1,)``, ``z_noise (1, inter, T)``, ``phase (1, 9)``, ``sine_noise (1, T·hop, 9)``
  [, ``vol (1, T)``] → ``audio (1, 1, T·hop)``, ``f0_out (1, T)``; dynamic ``T``.  With
  ``predict_f0`` the F0 is predicted from the content (``auto_predict_f0``), baked into the graph.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipelines.atomic_files import atomic_path

OPSET = 17
GEN_INPUTS = ("c", "f0", "uv", "sid", "noise_scale", "z_noise", "phase", "sine_noise")
GEN_OUTPUTS = ("audio", "f0_out")
CV_INPUT, CV_OUTPUT = "wav16k", "units"
LRELU_SLOPE = 0.1
F0_BIN, F0_MIN, F0_MAX = 256, 50.0, 1100.0
F0_MEL_MIN = 1127 * np.log(1 + F0_MIN / 700)
F0_MEL_MAX = 1127 * np.log(1 + F0_MAX / 700)


def f0_to_coarse(f0: torch.Tensor) -> torch.Tensor:
    """so-vits' ``f0_to_coarse`` without boolean-index assignment (same values)."""
    mel = 1127 * torch.log(1 + f0 / 700)
    mel = torch.where(mel > 0, (mel - F0_MEL_MIN) * (F0_BIN - 2) / (F0_MEL_MAX - F0_MEL_MIN) + 1, mel)
    return (torch.clamp(mel, 1, F0_BIN - 1) + 0.5).long()


class ContentVecForExport(nn.Module):
    def __init__(self, hubert: nn.Module, layer: int, final_proj: bool):
        super().__init__()
        self.hubert, self.layer, self.final_proj = hubert, int(layer), bool(final_proj)

    def forward(self, wav16k: torch.Tensor) -> torch.Tensor:
        hidden = self.hubert(wav16k, output_hidden_states=True)["hidden_states"]
        c = hidden[min(self.layer, len(hidden) - 1)]
        if self.final_proj:
            c = self.hubert.final_proj(c)
        return c.transpose(1, 2)


class GeneratorForExport(nn.Module):
    """``SynthesizerTrn.infer`` (our 4.0/4.1 port) with its random draws as inputs."""

    def __init__(self, net: nn.Module, predict_f0: bool):
        super().__init__()
        self.net = net
        self.predict_f0 = bool(predict_f0) and bool(getattr(net, "use_automatic_f0_prediction", False))
        self.vol = bool(getattr(net, "vol_embedding", False))

    def source(self, f0_up: torch.Tensor, phase: torch.Tensor, sine_noise: torch.Tensor) -> torch.Tensor:
        """NSF ``SourceModuleHnNSF`` (harmonic branch) on upsampled F0 ``(1, N, 1)``."""
        m = self.net.dec.m_source
        sg = m.l_sin_gen
        fn = f0_up * torch.arange(1, sg.dim + 1, dtype=f0_up.dtype)
        rad = torch.remainder(fn / sg.sampling_rate, 1.0)
        rad = torch.cat([rad[:, :1] + phase[:, None, :], rad[:, 1:]], dim=1)
        # the cumulative sums in float64, as torch's CPU cumsum accumulates float32 in double
        rad64 = rad.double()
        over = torch.remainder(torch.cumsum(rad64, 1), 1.0)
        wraps = (over[:, 1:] - over[:, :-1]) < 0
        shift = F.pad(-wraps.double(), (0, 0, 1, 0))
        sines = torch.sin(torch.remainder(torch.cumsum(rad64 + shift, dim=1), 1.0) * 2 * np.pi).float()
        sines = sines * sg.sine_amp
        uv = (f0_up > sg.voiced_threshold).float()
        amp = uv * sg.noise_std + (1 - uv) * sg.sine_amp / 3
        return m.l_tanh(m.l_linear(sines * uv + amp * sine_noise))

    def decode(self, x, f0, g, phase, sine_noise):
        dec = self.net.dec
        upp = int(dec.upp)
        f0_up = f0[:, :, None].expand(-1, -1, upp).reshape(f0.shape[0], -1, 1)
        har = self.source(f0_up, phase, sine_noise).transpose(1, 2)
        x = dec.conv_pre(x) + dec.cond(g)
        for i in range(dec.num_upsamples):
            x = dec.snakes[i](x) if dec.snake else F.leaky_relu(x, LRELU_SLOPE)
            x = dec.ups[i](x)
            x = x + dec.noise_convs[i](har)
            xs = None
            for j in range(dec.num_kernels):
                y = dec.resblocks[i * dec.num_kernels + j](x)
                xs = y if xs is None else xs + y
            x = xs / dec.num_kernels
        x = dec.snake_post(x) if dec.snake else F.leaky_relu(x)
        return torch.tanh(dec.conv_post(x))

    def forward(self, c, f0, uv, sid, noise_scale, z_noise, phase, sine_noise, vol=None):
        net = self.net
        g = net.emb_g(sid[None]).transpose(1, 2)  # sid (1,) → (1, gin, 1)
        x_mask = torch.ones_like(c[:, :1, :])
        x = net.pre(c) * x_mask + net.emb_uv(uv.long()).transpose(1, 2)
        if self.vol and vol is not None:
            x = x + net.emb_vol(vol[:, :, None]).transpose(1, 2)
        if self.predict_f0:
            lf0 = 2595.0 * torch.log10(1.0 + f0.unsqueeze(1) / 700.0) / 500
            uv_sum = torch.sum(uv, dim=1, keepdim=True)
            uv_sum = torch.where(uv_sum == 0, torch.full_like(uv_sum, 9999.0), uv_sum)
            means = torch.sum(lf0[:, 0, :] * uv, dim=1, keepdim=True) / uv_sum
            norm_lf0 = (lf0 - means.unsqueeze(-1)) * x_mask
            pred_lf0 = net.f0_decoder(x, norm_lf0, x_mask, spk_emb=g)
            f0 = (700 * (torch.pow(10, pred_lf0 * 500 / 2595) - 1)).squeeze(1)
        enc = net.enc_p
        h = x + enc.f0_emb(f0_to_coarse(f0)).transpose(1, 2)
        h = enc.enc_(h * x_mask, x_mask)
        stats = enc.proj(h) * x_mask
        m, logs = torch.split(stats, enc.out_channels, dim=1)
        z_p = (m + z_noise * torch.exp(logs) * noise_scale) * x_mask
        z = net.flow(z_p, x_mask, g=g, reverse=True)
        return self.decode(z * x_mask, f0, g, phase, sine_noise), f0


@dataclass(frozen=True)
class NoiseShape:
    """What the generator's random draws depend on: inter channels, hop (upsampling), harmonics + 1."""

    inter: int
    upp: int
    dim: int

    @classmethod
    def of(cls, net: nn.Module) -> NoiseShape:
        return cls(int(net.enc_p.out_channels), int(net.dec.upp), int(net.dec.m_source.l_sin_gen.dim))

    @classmethod
    def from_config(cls, config: dict) -> NoiseShape:
        """From ``config.json`` alone (the NSF source has 8 harmonics in every so-vits 4.x)."""
        m = config["model"]
        return cls(int(m["inter_channels"]), int(np.prod(m["upsample_rates"])), 9)


def noise_inputs(net: nn.Module | NoiseShape, frames: int, seed: int = 52468) -> dict[str, np.ndarray]:
    """The random draws of ``SynthesizerTrn.infer`` for ``frames`` frames, in its order, from its seed."""
    shape = net if isinstance(net, NoiseShape) else NoiseShape.of(net)
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(1, shape.inter, frames, generator=gen)
    phase = torch.rand(1, shape.dim, generator=gen)
    phase[:, 0] = 0
    sine = torch.randn(1, int(frames) * shape.upp, shape.dim, generator=gen)
    return {"z_noise": z.numpy(), "phase": phase.numpy(), "sine_noise": sine.numpy()}


def generator_inputs(net, c, f0, uv, sid: int, noise_scale: float, vol=None, seed: int = 52468) -> dict:
    """The generator graph's inputs (numpy) for one stretch."""
    c = np.asarray(c, np.float32)
    feeds = {
        "c": c,
        "f0": np.asarray(f0, np.float32),
        "uv": np.asarray(uv, np.float32),
        "sid": np.array([int(sid)], np.int64),
        "noise_scale": np.array([float(noise_scale)], np.float32),
        **noise_inputs(net, c.shape[-1], seed),
    }
    if vol is not None:
        feeds["vol"] = np.asarray(vol, np.float32)
    return feeds


def _export(module, args, dst, input_names, output_names, axes) -> Path:
    from pipelines.optional import require

    require("onnx", "onnx", "ONNX export of the so-vits voice")
    with atomic_path(dst, suffix=".tmp.onnx") as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    return Path(dst)


def export_generator(net: nn.Module, dst: str | os.PathLike, predict_f0: bool, ssl_dim: int, frames: int = 40) -> Path:
    """``net`` (an eval ``SynthesizerTrn``) as the generator graph at ``dst`` (written atomically)."""
    wrapper = GeneratorForExport(net.cpu().float().eval(), predict_f0).eval()
    t = frames
    f0 = torch.full((1, t), 180.0)
    feeds = generator_inputs(
        net, np.random.default_rng(0).standard_normal((1, ssl_dim, t)), f0, np.ones((1, t)), 0, 0.4
    )
    names = list(GEN_INPUTS) + (["vol"] if wrapper.vol else [])
    if wrapper.vol:
        feeds["vol"] = np.full((1, t), 0.1, np.float32)
    args = tuple(torch.from_numpy(feeds[k]) for k in names)
    axes = {k: {feeds[k].ndim - 1: "frames"} for k in ("c", "f0", "uv", "z_noise", "vol") if k in names}
    axes["sine_noise"] = {1: "samples"}
    axes["audio"] = {2: "samples"}
    axes["f0_out"] = {1: "frames"}
    return _export(wrapper, args, dst, names, GEN_OUTPUTS, axes)


def export_contentvec(hubert: nn.Module, dst: str | os.PathLike, layer: int, final_proj: bool) -> Path:
    """The ContentVec encoder as a graph ``wav16k (1, N)`` → ``units (1, D, frames)``."""
    wrapper = ContentVecForExport(hubert.cpu().float().eval(), layer, final_proj).eval()
    wav = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 16000)).astype(np.float32) * 0.1)
    axes = {CV_INPUT: {1: "samples"}, CV_OUTPUT: {2: "frames"}}
    return _export(wrapper, (wav,), dst, [CV_INPUT], [CV_OUTPUT], axes)

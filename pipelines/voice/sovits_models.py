"""so-vits-svc 4.0 / 4.1 generators in the original repository's layout (svc-develop-team/so-vits-svc).

``SynthesizerTrn`` here has the constructor arguments, sub-module names (so the
state-dict keys) and ``infer`` of the original ``models.py`` (4.1-Stable):

* ``emb_g``, ``pre``, ``enc_p``, ``dec``, ``flow``, ``emb_uv`` always;
* ``emb_vol`` (``nn.Linear(1, hidden)``) with ``vol_embedding``;
* ``enc_q`` (only used in training: optional here, release files drop it);
* ``f0_decoder`` with ``use_automatic_f0_prediction`` (default on, as 4.0);
* ``dec``: NSF-HiFiGAN (``vdecoder/hifigan``) or, with ``vocoder_name``
  ``nsf-snake-hifigan``, the same generator with anti-aliased SnakeBeta
  activations (``vdecoder/hifiganwithsnake``).

The text encoder, flow, posterior encoder and F0 decoder are so-vits-svc-fork's
classes, which have the original's names and arithmetic.  The vocoder is
written here because 4.1 changed its paddings (``(k - u + 1) // 2``) so that odd
upsampling rates work; for every even case they equal 4.0's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import Conv1d, ConvTranspose1d

LRELU_SLOPE = 0.1

#: model-section options of the original config this port implements, with the values it supports
SUPPORTED_VOCODERS = ("nsf-hifigan", "nsf-snake-hifigan")


def _weight_norm(module: nn.Module) -> nn.Module:
    """The old ``weight_norm`` (``weight_g`` / ``weight_v`` names, as the original checkpoints hold)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.nn.utils.weight_norm(module)


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return int((kernel_size * dilation - dilation) / 2)


# -- anti-aliased SnakeBeta (vdecoder/hifiganwithsnake/alias) ----------------------------
def kaiser_sinc_filter1d(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass, shape (1, 1, kernel_size), normalised to sum 1."""
    even = kernel_size % 2 == 0
    half = kernel_size // 2
    delta_f = 4 * half_width
    a = 2.285 * (half - 1) * math.pi * delta_f + 7.95
    beta = 0.1102 * (a - 8.7) if a > 50.0 else (0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21.0) if a >= 21.0 else 0.0)
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    t = (torch.arange(-half, half) + 0.5) if even else (torch.arange(kernel_size) - half)
    filt = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    filt = filt / filt.sum()
    return filt.view(1, 1, kernel_size)


class LowPassFilter1d(nn.Module):
    def __init__(self, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1, kernel_size: int = 12):
        super().__init__()
        self.even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(self.even)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.register_buffer("filter", kaiser_sinc_filter1d(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.to(x.dtype).expand(c, -1, -1), stride=self.stride, groups=c)


class UpSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int | None = None):
        super().__init__()
        self.ratio = ratio
        self.kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.stride = ratio
        self.pad = self.kernel_size // ratio - 1
        self.pad_left = self.pad * self.stride + (self.kernel_size - self.stride) // 2
        self.pad_right = self.pad * self.stride + (self.kernel_size - self.stride + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter1d(0.5 / ratio, 0.6 / ratio, self.kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(x, self.filter.to(x.dtype).expand(c, -1, -1), stride=self.stride, groups=c)
        return x[..., self.pad_left : -self.pad_right]


class DownSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int | None = None):
        super().__init__()
        kernel_size = int(6 * ratio // 2) * 2 if kernel_size is None else kernel_size
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, stride=ratio, kernel_size=kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class SnakeBeta(nn.Module):
    """x + 1/b · sin²(a·x), a and b per channel, stored as logarithms (``alpha_logscale``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.exp(self.alpha)[None, :, None]
        beta = torch.exp(self.beta)[None, :, None]
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha) ** 2


class SnakeAlias(nn.Module):
    """2x upsample → SnakeBeta → 2x downsample (12-tap Kaiser filters)."""

    def __init__(self, channels: int):
        super().__init__()
        self.act = SnakeBeta(channels)
        self.upsample = UpSample1d(2, 12)
        self.downsample = DownSample1d(2, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


# -- HiFiGAN residual blocks (vdecoder/hifigan/models.py) ---------------------------------
class ResBlock1(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3, 5), snake: bool = False):
        super().__init__()
        self.convs1 = nn.ModuleList(
            [
                _weight_norm(Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=_padding(kernel_size, d)))
                for d in dilation[:3]
            ]
        )
        self.convs2 = nn.ModuleList(
            [
                _weight_norm(Conv1d(channels, channels, kernel_size, 1, dilation=1, padding=_padding(kernel_size, 1)))
                for _ in dilation[:3]
            ]
        )
        if snake:
            self.activations = nn.ModuleList([SnakeAlias(channels) for _ in range(len(self.convs1) * 2)])
        self.snake = snake

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            xt = self.activations[2 * i](x) if self.snake else F.leaky_relu(x, LRELU_SLOPE)
            xt = c1(xt)
            xt = self.activations[2 * i + 1](xt) if self.snake else F.leaky_relu(xt, LRELU_SLOPE)
            x = c2(xt) + x
        return x


class ResBlock2(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3), snake: bool = False):
        super().__init__()
        self.convs = nn.ModuleList(
            [
                _weight_norm(Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=_padding(kernel_size, d)))
                for d in dilation[:2]
            ]
        )
        if snake:
            self.activations = nn.ModuleList([SnakeAlias(channels) for _ in self.convs])
        self.snake = snake

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, c in enumerate(self.convs):
            xt = self.activations[i](x) if self.snake else F.leaky_relu(x, LRELU_SLOPE)
            x = c(xt) + x
        return x


class Generator(nn.Module):
    """NSF-HiFiGAN of so-vits-svc 4.1 (``snake``: the ``hifiganwithsnake`` variant)."""

    def __init__(self, h: dict[str, Any], snake: bool = False):
        super().__init__()
        from so_vits_svc_fork.modules.decoders.hifigan._models import SourceModuleHnNSF

        rates, kernels = list(h["upsample_rates"]), list(h["upsample_kernel_sizes"])
        init = int(h["upsample_initial_channel"])
        self.num_kernels = len(h["resblock_kernel_sizes"])
        self.num_upsamples = len(rates)
        self.upp = int(np.prod(rates))
        self.m_source = SourceModuleHnNSF(sampling_rate=h["sampling_rate"], harmonic_num=8)
        self.noise_convs = nn.ModuleList()
        self.conv_pre = _weight_norm(Conv1d(h["inter_channels"], init, 7, 1, padding=3))
        block = ResBlock1 if str(h["resblock"]) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(rates, kernels)):
            c_cur = init // (2 ** (i + 1))
            self.ups.append(_weight_norm(ConvTranspose1d(init // (2**i), c_cur, k, u, padding=(k - u + 1) // 2)))
            if i + 1 < len(rates):
                stride_f0 = int(np.prod(rates[i + 1 :]))
                self.noise_convs.append(
                    Conv1d(1, c_cur, kernel_size=stride_f0 * 2, stride=stride_f0, padding=(stride_f0 + 1) // 2)
                )
            else:
                self.noise_convs.append(Conv1d(1, c_cur, kernel_size=1))
        self.snake = snake
        if snake:
            self.snakes = nn.ModuleList([SnakeAlias(init // (2**i)) for i in range(len(rates))])
        self.resblocks = nn.ModuleList()
        ch = init
        for i in range(len(self.ups)):
            ch = init // (2 ** (i + 1))
            for k, d in zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"]):
                self.resblocks.append(block(ch, k, d, snake=snake))
        if snake:
            self.snake_post = SnakeAlias(ch)
        self.conv_post = _weight_norm(Conv1d(ch, 1, 7, 1, padding=3))
        self.cond = nn.Conv1d(h["gin_channels"], init, 1)

    def forward(self, x: torch.Tensor, f0: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        f0 = F.interpolate(f0[:, None], scale_factor=float(self.upp), mode="nearest").transpose(1, 2)
        har_source, _, _ = self.m_source(f0)
        har_source = har_source.transpose(1, 2)
        x = self.conv_pre(x) + self.cond(g)
        for i in range(self.num_upsamples):
            x = self.snakes[i](x) if self.snake else F.leaky_relu(x, LRELU_SLOPE)
            x = self.ups[i](x)
            x = x + self.noise_convs[i](har_source)
            xs = None
            for j in range(self.num_kernels):
                y = self.resblocks[i * self.num_kernels + j](x)
                xs = y if xs is None else xs + y
            x = xs / self.num_kernels
        x = self.snake_post(x) if self.snake else F.leaky_relu(x)
        return torch.tanh(self.conv_post(x))


# -- the synthesizer (models.py) ------------------------------------------------------------
class SynthesizerTrn(nn.Module):
    """The original ``SynthesizerTrn`` (inference part); ``with_enc_q=False`` leaves out the
    posterior encoder, which inference never uses (release files drop it)."""

    def __init__(
        self,
        spec_channels: int,
        segment_size: int,
        inter_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        resblock: str,
        resblock_kernel_sizes,
        resblock_dilation_sizes,
        upsample_rates,
        upsample_initial_channel: int,
        upsample_kernel_sizes,
        gin_channels: int,
        ssl_dim: int,
        n_speakers: int,
        sampling_rate: int = 44100,
        vol_embedding: bool = False,
        vocoder_name: str = "nsf-hifigan",
        use_automatic_f0_prediction: bool = True,
        n_flow_layer: int = 4,
        with_enc_q: bool = True,
    ):
        super().__init__()
        from so_vits_svc_fork.modules.decoders.f0 import F0Decoder
        from so_vits_svc_fork.modules.encoders import Encoder, TextEncoder
        from so_vits_svc_fork.modules.flows import ResidualCouplingBlock

        if vocoder_name not in SUPPORTED_VOCODERS:
            raise ValueError(f"vocoder_name {vocoder_name!r}")
        self.vol_embedding = bool(vol_embedding)
        self.use_automatic_f0_prediction = bool(use_automatic_f0_prediction)
        self.emb_g = nn.Embedding(n_speakers, gin_channels)
        if self.vol_embedding:
            self.emb_vol = nn.Linear(1, hidden_channels)
        self.pre = nn.Conv1d(ssl_dim, hidden_channels, kernel_size=5, padding=2)
        self.enc_p = TextEncoder(
            inter_channels,
            hidden_channels,
            filter_channels=filter_channels,
            n_heads=n_heads,
            n_layers=n_layers,
            kernel_size=kernel_size,
            p_dropout=p_dropout,
        )
        hps = {
            "sampling_rate": sampling_rate,
            "inter_channels": inter_channels,
            "resblock": resblock,
            "resblock_kernel_sizes": resblock_kernel_sizes,
            "resblock_dilation_sizes": resblock_dilation_sizes,
            "upsample_rates": upsample_rates,
            "upsample_initial_channel": upsample_initial_channel,
            "upsample_kernel_sizes": upsample_kernel_sizes,
            "gin_channels": gin_channels,
        }
        self.dec = Generator(hps, snake=vocoder_name == "nsf-snake-hifigan")
        if with_enc_q:
            self.enc_q = Encoder(spec_channels, inter_channels, hidden_channels, 5, 1, 16, gin_channels=gin_channels)
        self.flow = ResidualCouplingBlock(
            inter_channels, hidden_channels, 5, 1, n_flow_layer, gin_channels=gin_channels
        )
        if self.use_automatic_f0_prediction:
            self.f0_decoder = F0Decoder(
                1,
                hidden_channels,
                filter_channels,
                n_heads,
                n_layers,
                kernel_size,
                p_dropout,
                spk_channels=gin_channels,
            )
        self.emb_uv = nn.Embedding(2, hidden_channels)

    @torch.no_grad()
    def infer(
        self,
        c: torch.Tensor,
        f0: torch.Tensor,
        uv: torch.Tensor,
        g: torch.Tensor,
        noice_scale: float = 0.35,
        seed: int = 52468,
        predict_f0: bool = False,
        vol: torch.Tensor | None = None,
    ):
        """(audio (1, 1, T·hop), the F0 the decoder received (1, T)), as the original's ``infer``."""
        from so_vits_svc_fork.f0 import f0_to_coarse, normalize_f0
        from so_vits_svc_fork.modules import commons

        if c.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)
        else:
            torch.manual_seed(seed)
        c_lengths = (torch.ones(c.size(0)) * c.size(-1)).to(c.device)
        if g.dim() == 1:
            g = g.unsqueeze(0)
        g = self.emb_g(g).transpose(1, 2)
        x_mask = torch.unsqueeze(commons.sequence_mask(c_lengths, c.size(2)), 1).to(c.dtype)
        vol_emb = self.emb_vol(vol[:, :, None]).transpose(1, 2) if vol is not None and self.vol_embedding else 0
        x = self.pre(c) * x_mask + self.emb_uv(uv.long()).transpose(1, 2) + vol_emb
        if self.use_automatic_f0_prediction and predict_f0:
            lf0 = 2595.0 * torch.log10(1.0 + f0.unsqueeze(1) / 700.0) / 500
            norm_lf0 = normalize_f0(lf0, x_mask, uv, random_scale=False)
            pred_lf0 = self.f0_decoder(x, norm_lf0, x_mask, spk_emb=g)
            f0 = (700 * (torch.pow(10, pred_lf0 * 500 / 2595) - 1)).squeeze(1)
        z_p, _, _, c_mask = self.enc_p(x, x_mask, f0=f0_to_coarse(f0), noice_scale=noice_scale)
        z = self.flow(z_p, c_mask, g=g, reverse=True)
        return self.dec(z * c_mask, g=g, f0=f0), f0


def volume_of(audio: torch.Tensor, hop_size: int) -> torch.Tensor:
    """Frame RMS as the original ``Volume_Extractor.extract`` (audio (1, N) → (n_frames,))."""
    n_frames = int(audio.size(-1) // hop_size)
    a2 = F.pad(audio**2, (int(hop_size // 2), int((hop_size + 1) // 2)), mode="reflect")
    vol = F.unfold(a2[:, None, None, :], (1, hop_size), stride=hop_size)[:, :, :n_frames].mean(dim=1)[0]
    return torch.sqrt(vol)


def repeat_expand_2d(content: torch.Tensor, target_len: int, mode: str = "left") -> torch.Tensor:
    """Content frames (h, t) stretched to ``target_len`` as the original's ``repeat_expand_2d``;
    mode ``fork``: so-vits-svc-fork's variant (cut when shorter, else nearest)."""
    src_len = content.shape[-1]
    if mode == "fork":
        if target_len < src_len:
            return content[:, :target_len]
        mode = "nearest"
    if mode == "left":
        edges = torch.arange(src_len + 1) * target_len / src_len
        idx = torch.zeros(target_len, dtype=torch.long)
        pos = 0
        for i in range(target_len):
            if not i < edges[pos + 1]:
                pos += 1
            idx[i] = pos
        return content[:, idx.clamp(max=src_len - 1).to(content.device)].float()
    return F.interpolate(content[None], size=target_len, mode=mode)[0]


def change_rms(data1: np.ndarray, sr1: int, data2: torch.Tensor, sr2: int, rate: float) -> torch.Tensor:
    """The output's loudness envelope moved towards the input's (``utils.change_rms``; rate 1 = unchanged,
    0 = the input's envelope), RMS per half second interpolated linearly."""
    import librosa

    rms1 = torch.from_numpy(librosa.feature.rms(y=data1, frame_length=sr1 // 2 * 2, hop_length=sr1 // 2))
    rms2 = torch.from_numpy(
        librosa.feature.rms(y=data2.detach().cpu().numpy(), frame_length=sr2 // 2 * 2, hop_length=sr2 // 2)
    )
    rms1 = F.interpolate(rms1.to(data2.device).unsqueeze(0), size=data2.shape[0], mode="linear").squeeze()
    rms2 = F.interpolate(rms2.to(data2.device).unsqueeze(0), size=data2.shape[0], mode="linear").squeeze()
    rms2 = torch.clamp(rms2, min=1e-6)
    return data2 * torch.pow(rms1, torch.tensor(1 - rate)) * torch.pow(rms2, torch.tensor(rate - 1))

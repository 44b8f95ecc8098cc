"""The per-person lip-sync network: an Ultralight-Digital-Human-style MobileNetV2 UNet, width-configurable.

Layout (after anliyuan/Ultralight-Digital-Human ``unet.py``, written anew here):

* input ``face_batch`` ``(B, 6, S, S)``: channels 0-2 the current face crop with its lower
  half blacked out, channels 3-5 a reference crop of the same person (RGB / 255);
* ``mel_batch`` ``(B, 1, 80, 16)``: the Wav2Lip mel window of the frame (no download), or
  with ``audio_features = "contentvec"`` ``(B, 1, D, 16)``: 16 ContentVec frames around it
  (``features.py``), read by 1-D convolutions over time (``UnitEncoder``);
* encoder: an inverted-residual stem and four stride-2 stages with channels
  ``w * (1, 2, 4, 8, 16)`` (Ultralight: ``w = 32``, 160 px, about 12 M parameters);
* the audio encoder turns the mel window into ``16 w`` channels, spread over the
  ``S / 16`` bottleneck grid and fused with the image features there;
* decoder: bilinear up-sampling, skip concatenation, inverted residual blocks; a 1x1
  convolution and a sigmoid give the ``(B, 3, S, S)`` face in [0, 1].

``PersonalConfig`` (width, crop size) travels with every checkpoint, so loading
builds the same network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MEL_BANDS, MEL_STEPS = 80, 16
UNIT_STEPS = 16  # ContentVec windows: 16 frames at 50 Hz (features.UNIT_STEPS)
CROP_SIZES = (64, 96, 128, 160, 192, 224, 256)


@dataclass
class PersonalConfig:
    width: int = (
        8  # channels of the first stage (Ultralight: 32; 8: an epoch over 3 min of video in minutes on 2 cores)
    )
    crop: int = 128  # face crop side in pixels (a multiple of 16)
    audio_features: str = "mel"  # "mel" (80, 16) windows, or "contentvec" (feature_dim, 16) (features.py)
    feature_dim: int = MEL_BANDS

    def __post_init__(self) -> None:
        self.width, self.crop, self.feature_dim = int(self.width), int(self.crop), int(self.feature_dim)
        if self.audio_features not in ("mel", "contentvec"):
            raise ValueError(f"personal model audio_features must be mel or contentvec, got {self.audio_features!r}")
        if self.audio_features == "mel" and self.feature_dim != MEL_BANDS:
            raise ValueError(f"mel windows have {MEL_BANDS} bands, not {self.feature_dim}")
        if self.width < 2 or self.width > 64:
            raise ValueError(f"personal model width must be 2..64 channels, got {self.width}")
        if self.crop not in CROP_SIZES:
            raise ValueError(f"personal model crop must be one of {CROP_SIZES} pixels, got {self.crop}")

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(self.width * m for m in (1, 2, 4, 8, 16))

    def to_dict(self) -> dict:
        return asdict(self)


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise (stride 1/2), 1x1 project; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expand: int = 2) -> None:
        super().__init__()
        mid = cin * expand
        self.residual = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.residual else y


def double(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(InvertedResidual(cin, cout, stride), InvertedResidual(cout, cout, 1))


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = double(cin, cout)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], 1))


class AudioEncoder(nn.Module):
    """``(B, 1, 80, 16)`` mel window -> ``(B, C, g, g)`` features on the bottleneck grid."""

    def __init__(self, width: int, out_ch: int, grid: int) -> None:
        super().__init__()
        c = max(8, 2 * width)
        self.grid = grid
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 3, (2, 1), 1, bias=False),  # 40 x 16
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            InvertedResidual(c, 2 * c, 2),  # 20 x 8
            InvertedResidual(2 * c, 2 * c, 1),
            InvertedResidual(2 * c, 4 * c, 2),  # 10 x 4
            InvertedResidual(4 * c, 4 * c, 1),
            nn.Conv2d(4 * c, out_ch, (10, 4), bias=False),  # 1 x 1
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, mel):
        a = self.net(mel)
        return a.expand(-1, -1, self.grid, self.grid)


class UnitEncoder(nn.Module):
    """``(B, 1, D, 16)`` ContentVec window -> ``(B, C, g, g)``: 1-D convolutions over time, D channels in."""

    def __init__(self, dim: int, width: int, out_ch: int, grid: int) -> None:
        super().__init__()
        c = max(16, 4 * width)
        self.grid = grid

        def block(cin, cout, stride):
            return [nn.Conv1d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            *block(dim, c, 1),  # 16 steps
            *block(c, c, 2),  # 8
            *block(c, 2 * c, 2),  # 4
            nn.Conv1d(2 * c, out_ch, UNIT_STEPS // 4, bias=False),  # 1
            nn.BatchNorm1d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, units):
        a = self.net(units.flatten(1, 2) if units.dim() == 4 else units)  # (B, 1, D, T) -> (B, D, T)
        return a[..., None].expand(-1, -1, self.grid, self.grid)


class PersonalUNet(nn.Module):
    def __init__(self, config: PersonalConfig | None = None) -> None:
        super().__init__()
        self.config = config or PersonalConfig()
        c = self.config.channels
        self.inc = InvertedResidual(6, c[0], 1)
        self.down = nn.ModuleList([double(c[i], c[i + 1], 2) for i in range(4)])
        cfg = self.config
        if cfg.audio_features == "contentvec":
            self.audio: nn.Module = UnitEncoder(cfg.feature_dim, cfg.width, c[4], cfg.crop // 16)
        else:
            self.audio = AudioEncoder(cfg.width, c[4], cfg.crop // 16)
        self.fuse = nn.Sequential(double(2 * c[4], c[4]), double(c[4], c[3]))
        self.up1 = Up(c[3] + c[3], c[3] // 2)
        self.up2 = Up(c[3] // 2 + c[2], c[2] // 2)
        self.up3 = Up(c[2] // 2 + c[1], c[1] // 2)
        self.up4 = Up(c[1] // 2 + c[0], c[0])
        self.out = nn.Conv2d(c[0], 3, 1)

    def forward(self, mel, face):
        x1 = self.inc(face)
        x2 = self.down[0](x1)
        x3 = self.down[1](x2)
        x4 = self.down[2](x3)
        x5 = self.down[3](x4)
        x = self.fuse(torch.cat([x5, self.audio(mel)], 1))
        x = self.up1(x, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return torch.sigmoid(self.out(x))


def count_params(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_macs(model, crop: int | None = None) -> int:
    """Multiply-accumulates of one frame (convolutions; what dominates), by forward hooks."""
    crop = crop or model.config.crop
    total = [0]

    def hook(mod, inp, out):
        k = int(np.prod(mod.kernel_size))
        total[0] += int(out.numel() * k * mod.in_channels // mod.groups)

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, model.config.feature_dim, MEL_STEPS), torch.zeros(1, 6, crop, crop))
    model.train(was)
    for h in hooks:
        h.remove()
    return total[0]


def fuse_batchnorm(model):
    """A copy for inference with every Conv+BatchNorm pair (2-D, and the 1-D ones of ``UnitEncoder``) folded."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    m = copy.deepcopy(model).eval()
    for mod in m.modules():
        kids = list(mod.named_children())
        for (n1, a), (n2, b) in zip(kids, kids[1:]):
            if (isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d)) or (
                isinstance(a, nn.Conv1d) and isinstance(b, nn.BatchNorm1d)
            ):
                setattr(mod, n1, fuse_conv_bn_eval(a, b))
                setattr(mod, n2, nn.Identity())
    return m

"""The Wav2Lip generator (Prajwal et al., 2020), layer for layer as released.

The module tree and parameter names match the official ``models/wav2lip.py`` /
``models/conv.py`` of Rudrabha/Wav2Lip, so the released ``wav2lip.pth`` and
``wav2lip_gan.pth`` state dicts load without renaming:

* ``face_encoder_blocks.{i}.{j}.conv_block.{0: Conv2d, 1: BatchNorm2d}``
* ``audio_encoder.{j}.conv_block.{0,1}``
* ``face_decoder_blocks.{i}.{j}.conv_block.{0: Conv(Transpose)2d, 1: BatchNorm2d}``
* ``output_block.0.conv_block.{0,1}`` and ``output_block.1`` (a plain 1x1 conv), then a sigmoid.

Inputs: mel windows ``(B, 1, 80, 16)`` and faces ``(B, 6, 96, 96)`` (BGR / 255:
masked target then reference); output ``(B, 3, 96, 96)`` BGR in [0, 1].

The architecture is written here as tables of layer specs; ``fuse_batchnorm``
folds every BatchNorm into its convolution for inference (same outputs, fewer
operations), which is what the ONNX export and the PyTorch runtime use.
"""

from __future__ import annotations

import torch
from torch import nn

#: (in channels, out channels, kernel, stride, padding, residual)
Spec = tuple

FACE_SIZE = 96
MEL_BANDS = 80
MEL_STEPS = 16


class Conv2d(nn.Module):
    """Conv -> BatchNorm -> (+ input if residual) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, residual: bool = False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_block(x)
        if self.residual:
            y = y + x
        return self.act(y)


class Conv2dTranspose(nn.Module):
    """ConvTranspose -> BatchNorm -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, output_padding: int = 0):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(ch: int, n: int) -> list[Spec]:
    """``n`` residual 3x3 convolutions at ``ch`` channels."""
    return [(ch, ch, 3, 1, 1, True)] * n


# Face encoder: 96 -> 48 -> 24 -> 12 -> 6 -> 3 -> 1 (each list is one ModuleList entry).
FACE_ENCODER: list[list[Spec]] = [
    [(6, 16, 7, 1, 3, False)],
    [(16, 32, 3, 2, 1, False)] + _res(32, 2),
    [(32, 64, 3, 2, 1, False)] + _res(64, 3),
    [(64, 128, 3, 2, 1, False)] + _res(128, 2),
    [(128, 256, 3, 2, 1, False)] + _res(256, 2),
    [(256, 512, 3, 2, 1, False)] + _res(512, 1),
    [(512, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False)],
]

# Audio encoder: (1, 80, 16) -> (512, 1, 1), one Sequential.
AUDIO_ENCODER: list[Spec] = (
    [(1, 32, 3, 1, 1, False)]
    + _res(32, 2)
    + [(32, 64, 3, (3, 1), 1, False)]
    + _res(64, 2)
    + [(64, 128, 3, 3, 1, False)]
    + _res(128, 2)
    + [(128, 256, 3, (3, 2), 1, False)]
    + _res(256, 1)
    + [(256, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False)]
)

# Face decoder: each entry starts with a transposed conv (cin, cout, kernel, stride, padding,
# output_padding) followed by residual convs; the first entry is a single 1x1 Conv2d.
# Input channels grow by the skip connection concatenated after every block.
FACE_DECODER: list[tuple[tuple, int]] = [
    ((1024, 512, 3, 1, 0, 0), 1),  # 1 -> 3
    ((1024, 512, 3, 2, 1, 1), 2),  # 3 -> 6
    ((768, 384, 3, 2, 1, 1), 2),  # 6 -> 12
    ((512, 256, 3, 2, 1, 1), 2),  # 12 -> 24
    ((320, 128, 3, 2, 1, 1), 2),  # 24 -> 48
    ((160, 64, 3, 2, 1, 1), 2),  # 48 -> 96
]


def _conv(spec: Spec) -> Conv2d:
    cin, cout, k, s, p, res = spec
    return Conv2d(cin, cout, kernel_size=k, stride=s, padding=p, residual=res)


class Wav2Lip(nn.Module):
    """The Wav2Lip generator (96x96 faces, 80x16 mel windows)."""

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList(nn.Sequential(*[_conv(s) for s in block]) for block in FACE_ENCODER)
        self.audio_encoder = nn.Sequential(*[_conv(s) for s in AUDIO_ENCODER])
        decoder = [nn.Sequential(_conv((512, 512, 1, 1, 0, False)))]
        for (cin, cout, k, s, p, op), n_res in FACE_DECODER:
            decoder.append(
                nn.Sequential(
                    Conv2dTranspose(cin, cout, kernel_size=k, stride=s, padding=p, output_padding=op),
                    *[_conv(r) for r in _res(cout, n_res)],
                )
            )
        self.face_decoder_blocks = nn.ModuleList(decoder)
        self.output_block = nn.Sequential(
            _conv((80, 32, 3, 1, 1, False)), nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0), nn.Sigmoid()
        )

    def forward(self, audio_sequences: torch.Tensor, face_sequences: torch.Tensor) -> torch.Tensor:
        """``(B,1,80,16)`` mel + ``(B,6,96,96)`` faces -> ``(B,3,96,96)``.

        Like the original, 5-D inputs ``(B,T,1,80,16)`` / ``(B,6,T,96,96)`` are
        folded into the batch and the output returned as ``(B,3,T,96,96)``.
        """
        seq = face_sequences.dim() > 4
        if seq:
            b, t = audio_sequences.size(0), audio_sequences.size(1)
            audio_sequences = torch.cat([audio_sequences[:, i] for i in range(t)], dim=0)
            face_sequences = torch.cat([face_sequences[:, :, i] for i in range(t)], dim=0)
        skips = []
        x = face_sequences
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(audio_sequences)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), skips.pop()), dim=1)
        out = self.output_block(x)
        if seq:
            out = torch.stack(torch.split(out, b, dim=0), dim=2)
        return out


def fuse_batchnorm(model: Wav2Lip) -> Wav2Lip:
    """Fold every BatchNorm into the preceding convolution (in place, eval mode).

    The fused model computes the same function in inference mode; its
    state-dict keys differ (no ``conv_block.1``), so fuse *after* loading a
    checkpoint.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for m in model.modules():
        if isinstance(m, (Conv2d, Conv2dTranspose)) and len(m.conv_block) == 2:
            conv, bn = m.conv_block[0], m.conv_block[1]
            fused = fuse_conv_bn_eval(conv, bn, transpose=isinstance(m, Conv2dTranspose))
            m.conv_block = nn.Sequential(fused)
    return model


class SubpixelConvTranspose(nn.Module):
    """A ConvTranspose2d rewritten as an ordinary convolution (same outputs).

    * stride 1 (kernel k, padding p): a convolution with the kernel flipped and
      in/out swapped, padding ``k - 1 - p``;
    * stride 2, kernel 3, padding 1, output padding 1 (the upsampling layers):
      each output phase (row parity, column parity) is a 2x2 convolution of
      the input padded by one row/column at the bottom/right, so one Conv2d
      with 4x the output channels followed by ``pixel_shuffle(2)`` (the
      zero taps cost 16/9 of the transposed convolution's multiply-adds).

    Used for the ONNX export: integer runtimes fuse quantised Conv but not
    ConvTranspose, which would otherwise stay fp32 between (de)quantisation.
    """

    def __init__(self, convt: nn.ConvTranspose2d, relu: bool = False):
        super().__init__()
        self.relu = relu
        w = convt.weight.detach()  # (cin, cout, k, k)
        b = convt.bias.detach() if convt.bias is not None else torch.zeros(w.shape[1])
        cin, cout, k, _ = w.shape
        s, p, op = convt.stride[0], convt.padding[0], convt.output_padding[0]
        if convt.stride != (s, s) or convt.dilation != (1, 1) or convt.groups != 1:
            raise ValueError("only square, undilated, ungrouped transposed convolutions are supported")
        if s == 1:
            self.mode = "flip"
            conv = nn.Conv2d(cin, cout, k, 1, k - 1 - p)
            conv.weight.data = w.flip(2, 3).transpose(0, 1).contiguous()
            conv.bias.data = b.clone()
        elif (s, k, p, op) == (2, 3, 1, 1):
            self.mode = "subpixel"
            # taps per output phase along one axis: phase 0 -> x[m]*w[1]; phase 1 -> x[m]*w[2] + x[m+1]*w[0]
            taps = {0: {0: 1}, 1: {0: 2, 1: 0}}
            kern = torch.zeros(cout, 2, 2, cin, 2, 2, dtype=w.dtype)  # (cout, py, px, cin, dy, dx)
            for py in (0, 1):
                for px in (0, 1):
                    for dy, ky in taps[py].items():
                        for dx, kx in taps[px].items():
                            kern[:, py, px, :, dy, dx] = w[:, :, ky, kx].t()
            conv = nn.Conv2d(cin, cout * 4, 2, 1, 0)
            conv.weight.data = kern.reshape(cout * 4, cin, 2, 2).contiguous()
            conv.bias.data = b.repeat_interleave(4).clone()
        else:
            raise ValueError(
                f"unsupported transposed convolution (stride {s}, kernel {k}, padding {p}, output padding {op})"
            )
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "flip":
            y = self.conv(x)
            return torch.relu(y) if self.relu else y
        y = self.conv(nn.functional.pad(x, (0, 1, 0, 1)))
        if self.relu:  # ReLU commutes with the shuffle; before it, it fuses into the conv
            y = torch.relu(y)
        return nn.functional.pixel_shuffle(y, 2)  # ONNX DepthToSpace (CRD), moved as 8-bit by int8 runtimes


def replace_transposed_convs(model: Wav2Lip, make) -> Wav2Lip:
    """Replace the ConvTranspose2d of every (BatchNorm-fused) ``Conv2dTranspose`` block by
    ``make(conv_transpose)`` (in place).  The block's ReLU is expected inside the replacement."""
    for m in model.modules():
        if isinstance(m, Conv2dTranspose):
            if len(m.conv_block) != 1:
                raise ValueError("fuse_batchnorm() first")
            m.conv_block = nn.Sequential(make(m.conv_block[0]))
            m.act = nn.Identity()
    return model


def subpixel_transposed_convs(model: Wav2Lip) -> Wav2Lip:
    """Replace every (BatchNorm-fused) ConvTranspose2d by ``SubpixelConvTranspose`` (in place).

    The block's ReLU moves inside (before the pixel shuffle), so the result is
    the same function with only Conv, ReLU and DepthToSpace.
    """
    return replace_transposed_convs(model, lambda convt: SubpixelConvTranspose(convt, relu=True))

"""The exact 4-phase rewrite of the decoder's transposed convolutions (ONNX export)."""

import copy

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from pipelines.face.wav2lip.export.onnx_export import export_fp32
from pipelines.face.wav2lip.export.rewrites import phase_conv_transpose, rewrite_transposed_convs
from pipelines.face.wav2lip.inference import Wav2LipInference
from pipelines.face.wav2lip.model import fuse_batchnorm


@pytest.mark.parametrize("cin,cout,size", [(8, 5, 3), (16, 12, 7)])
def test_phases_equal_the_transposed_conv(cin, cout, size):
    gen = torch.Generator().manual_seed(cin)
    convt = nn.ConvTranspose2d(cin, cout, 3, 2, 1, 1)
    with torch.no_grad():
        convt.weight.copy_(torch.randn(convt.weight.shape, generator=gen))
        convt.bias.copy_(torch.randn(convt.bias.shape, generator=gen))
    x = torch.randn(2, cin, size, size, generator=gen)
    with torch.no_grad():
        ref = torch.relu(convt(x))
        out = phase_conv_transpose(convt, relu=True)(x)
    assert out.shape == (2, cout, 2 * size, 2 * size)
    assert (out - ref).abs().max().item() < 1e-4
    # four convolutions, 9 taps in all (1x1, 1x2, 2x1, 2x2), as many as the transposed conv
    convs = [m for m in phase_conv_transpose(convt).modules() if isinstance(m, nn.Conv2d)]
    assert sorted(tuple(c.kernel_size) for c in convs) == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_rewritten_model_and_its_onnx_graph_match_pytorch(w2l_model, real_pairs, tmp_path):
    mels, faces = (torch.from_numpy(x[:4]) for x in real_pairs)
    with torch.no_grad():
        ref = w2l_model(mels, faces).numpy()
        phases = rewrite_transposed_convs(fuse_batchnorm(copy.deepcopy(w2l_model)), "phases")
        assert not any(isinstance(m, nn.ConvTranspose2d) and m.stride != (1, 1) for m in phases.modules())
        assert np.abs(phases(mels, faces).numpy() - ref).max() < 1e-4
    path = export_fp32(w2l_model, tmp_path / "w.fp32.onnx")
    g = onnx.load(str(path)).graph
    d2s = [n for n in g.node if n.op_type == "DepthToSpace"]
    assert len(d2s) == 5 and all(a.s == b"DCR" for n in d2s for a in n.attribute if a.name == "mode")
    assert not [n for n in g.node if n.op_type == "ConvTranspose"]
    out = Wav2LipInference(path, threads=2).load()(mels.numpy(), faces.numpy())
    assert np.abs(out - ref).max() < 1e-4

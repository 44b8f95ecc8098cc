"""int8 on CPUs: ONNX Runtime's fused 8-bit graph kept in NHWC (no layout transposes), same outputs."""

from collections import Counter

import numpy as np
import pytest

from pipelines.face.wav2lip.export.rewrites import cpu_int8_model
from pipelines.face.wav2lip.inference import Wav2LipInference


@pytest.fixture(scope="module")
def int8_export(w2l_int8):
    return w2l_int8


def test_cpu_int8_graph_has_one_layout(int8_export):
    model = cpu_int8_model(int8_export)
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["QLinearConv"] == 66  # 51 convs + 5 transposed convs as 3 more each
    assert ops["DepthToSpace"] == 0 and ops["DequantizeLinear"] <= 1
    perms = [list(a.ints) for n in model.graph.node if n.op_type == "Transpose" for a in n.attribute]
    # the two inputs into NHWC, the output back, and the 5 interleaves (5-D, within NHWC)
    assert sum(len(p) == 4 for p in perms) == 3 and sum(p == [0, 1, 3, 2, 4] for p in perms) == 5
    assert all(n.domain == "com.microsoft" for n in model.graph.node if n.op_type.startswith("QLinear"))


@pytest.mark.parametrize("batch", [1, 6])
def test_nhwc_int8_runs_bit_identical_to_the_qdq_graph(int8_export, real_pairs, batch):
    mels, faces = (x[:batch] for x in real_pairs)
    plain = Wav2LipInference(int8_export, threads=2, cpu_layout=False).load()
    fast = Wav2LipInference(int8_export, threads=2).load()
    assert plain.layout == "" and fast.layout == "nhwc" and fast.precision == "int8"
    assert plain.describe() == "onnx-int8@cpu" and fast.describe() == "onnx-int8-nhwc@cpu"
    out = fast(mels, faces)
    assert out.shape == (batch, 3, 96, 96)
    assert np.array_equal(out, plain(mels, faces))

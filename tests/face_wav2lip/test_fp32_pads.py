"""The fp32 export merges the phase convolutions' zero pads into their Convs, with the same outputs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")


def test_fp32_export_has_no_pad_nodes_and_the_same_outputs(tmp_path):
    import onnx
    import onnxruntime as ort
    import torch

    from pipelines.face.wav2lip.export import onnx_export as ex
    from pipelines.testing.wav2lip_random import random_wav2lip

    rng = np.random.default_rng(0)
    mel = rng.standard_normal((3, 1, 80, 16)).astype(np.float32)
    face = rng.random((3, 6, 96, 96)).astype(np.float32)
    model = random_wav2lip(0, mel, face)
    plain = ex.export_fp32(model, tmp_path / "plain.onnx", fold_pads=False)
    folded = ex.export_fp32(model, tmp_path / "folded.onnx")
    ops = [[n.op_type for n in onnx.load(str(p)).graph.node] for p in (plain, folded)]
    assert ops[0].count("Pad") > 0 and "Pad" not in ops[1]
    assert ops[1].count("Conv") == ops[0].count("Conv")
    assert onnx.load(str(folded)).graph.input[0].type.tensor_type.shape.dim[0].dim_param  # batch still dynamic
    outs = []
    for p in (plain, folded):
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        outs.append(s.run(None, {s.get_inputs()[0].name: mel, s.get_inputs()[1].name: face})[0])
    with torch.no_grad():
        ref = model(torch.from_numpy(mel), torch.from_numpy(face)).numpy()
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)
    np.testing.assert_allclose(outs[1], ref, atol=1e-4)

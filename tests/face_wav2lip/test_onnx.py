"""ONNX exports: fp32 parity with PyTorch, dynamic batch, fp16 and calibrated int8 QDQ."""

import numpy as np
import onnx
import pytest
import torch

from pipelines.face.wav2lip.export.calibration import paired_inputs, psnr, speech_windows
from pipelines.face.wav2lip.export.onnx_export import convert_fp16, quantize_int8
from pipelines.face.wav2lip.export.onnx_export import main as export_main
from pipelines.face.wav2lip.inference import Wav2LipInference


def _torch_out(model, mels, faces):
    with torch.no_grad():
        return model(torch.from_numpy(mels), torch.from_numpy(faces)).numpy()


@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_fp32_matches_pytorch(w2l_model, w2l_onnx, real_pairs, batch):
    mels, faces = (x[:batch] for x in real_pairs)
    ort_out = Wav2LipInference(w2l_onnx, threads=2).load()(mels, faces)
    ref = _torch_out(w2l_model, mels, faces)
    assert ort_out.shape == (batch, 3, 96, 96)
    assert np.abs(ort_out - ref).max() < 2e-4
    assert psnr(ref, ort_out) > 70


def test_pytorch_runtime_matches_the_model(w2l_model, w2l_checkpoint, real_pairs):
    mels, faces = (x[:3] for x in real_pairs)
    inf = Wav2LipInference(w2l_checkpoint, device="cpu").load()
    assert inf.runtime == "torch" and inf.describe() == "torch-fp32@cpu"
    assert np.abs(inf(mels, faces) - _torch_out(w2l_model, mels, faces)).max() < 2e-4


def test_export_graph(w2l_onnx):
    model = onnx.load(str(w2l_onnx))
    onnx.checker.check_model(model)
    assert model.opset_import[0].version >= 13
    names = [i.name for i in model.graph.input]
    assert names == ["mel_batch", "face_batch"]
    for vi in list(model.graph.input) + list(model.graph.output):
        assert vi.type.tensor_type.shape.dim[0].dim_param == "batch"  # dynamic batch axis
    ops = {n.op_type for n in model.graph.node}
    assert "BatchNormalization" not in ops and "ConvTranspose" not in ops  # folded / rewritten
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["precision"] == "fp32"


def test_fp16_export(w2l_onnx, real_pairs, tmp_path):
    path = convert_fp16(w2l_onnx, tmp_path / "w.fp16.onnx")
    model = onnx.load(str(path))
    f16 = onnx.TensorProto.FLOAT16
    assert sum(i.data_type == f16 for i in model.graph.initializer) > 100
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in model.graph.input)
    mels, faces = (x[:4] for x in real_pairs)
    ref = Wav2LipInference(w2l_onnx, threads=2).load()(mels, faces)
    half = Wav2LipInference(path, threads=2).load()
    assert half.precision == "fp16"
    assert psnr(ref, half(mels, faces)) > 35


def test_int8_static_qdq_per_channel(w2l_onnx, w2l_int8, face_avatar, speech, tmp_path):
    # the shared export is calibrated on the enrolled crops + even speech windows;
    # check on held-out pairs (crops reversed, the odd windows)
    windows = speech_windows([speech])
    chk_m, chk_f = paired_inputs(face_avatar.crops[::-1], windows[1::2], 8, seed=1)
    path = w2l_int8
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 50
    assert "Pad" not in ops  # folded into the convs
    producer = {o: n for n in model.graph.node for o in n.output}
    for n in model.graph.node:  # every DQ reads its Q with the Q's own parameters
        q = producer.get(n.input[0]) if n.op_type == "DequantizeLinear" else None
        if q is not None and q.op_type == "QuantizeLinear":
            assert list(n.input[1:3]) == list(q.input[1:3]), n.name
    inits = {i.name: i for i in model.graph.initializer}
    int8_weights = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 51  # every conv weight
    per_channel = 0
    for n in model.graph.node:
        if (
            n.op_type == "DequantizeLinear"
            and n.input[0] in inits
            and inits[n.input[0]].data_type == onnx.TensorProto.INT8
        ):
            scale = inits[n.input[1]]
            if len(scale.dims) == 1 and scale.dims[0] > 1:
                per_channel += 1
    assert per_channel >= 51
    assert {p.key: p.value for p in model.metadata_props}["precision"] == "int8"
    ref = Wav2LipInference(w2l_onnx, threads=2).load()(chk_m, chk_f)
    q = Wav2LipInference(path, threads=2).load()
    assert q.precision == "int8"
    out = q(chk_m, chk_f)
    score = psnr(ref, out)
    corr = np.corrcoef(ref.ravel(), out.ravel())[0, 1]
    print(f"int8 vs fp32 on held-out real inputs: PSNR {score:.1f} dB, correlation {corr:.3f}")
    # a random-weight network is far more sensitive than a trained one (0.4 % weight noise alone
    # costs ~34 dB here), so the bar is "the same picture", not a trained model's figure
    assert score > 20 and corr > 0.9
    assert not np.array_equal(out, ref)
    # calibration matters: ranges from all-zero inputs give a clearly worse model
    zeros = quantize_int8(w2l_onnx, tmp_path / "w.zero.onnx", np.zeros_like(chk_m), np.zeros_like(chk_f), batch=8)
    assert psnr(ref, Wav2LipInference(zeros, threads=2).load()(chk_m, chk_f)) < score - 3


def test_export_cli_fp32_and_refusals(w2l_checkpoint, tmp_path, capsys):
    assert export_main(["--checkpoint", str(w2l_checkpoint), "--out-dir", str(tmp_path), "--precision", "fp32"]) == 0
    made = tmp_path / "wav2lip_gan.fp32.onnx"
    assert made.is_file() and (tmp_path / "wav2lip_gan.onnx.json").is_file()
    assert not list(tmp_path.glob(".*tmp*"))  # no temp files left behind
    bad = tmp_path / "wrong.pth"
    torch.save({"state_dict": {"module.x.weight": torch.zeros(1)}}, bad)
    assert export_main(["--checkpoint", str(bad), "--out-dir", str(tmp_path)]) == 2
    assert "not an official 96x96 Wav2Lip generator" in capsys.readouterr().err
    assert export_main(["--checkpoint", str(made)]) == 2
    assert "needs the PyTorch .pth" in capsys.readouterr().err

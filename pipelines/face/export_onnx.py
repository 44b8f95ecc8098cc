"""``python -m pipelines export-onnx``: the Wav2Lip generator as ONNX (fp32, fp16, int8).

* fp32: ``torch.onnx.export`` of the generator with BatchNorm folded, inputs
  ``mel_batch (B,1,80,16)`` and ``face_batch (B,6,96,96)``, output ``output``,
  dynamic batch axis, opset 17.  The reference path.  The decoder's
  stride-2 transposed convolutions are written as their exact 4-phase
  decomposition (four small convs + DepthToSpace), so int8 runtimes run
  them as quantised convolutions at their own cost.
* fp16: the fp32 graph with float16 weights and compute (inputs and output
  stay float32); meant for GPUs.
* int8: static QDQ quantisation (int8 per-channel weights, uint8 activations)
  calibrated on the persona's enrolled face crops paired with mel windows of
  real speech (espeak-ng), then checked against fp32 on held-out pairs (other
  sentences): PSNR of the generated faces is printed and stored in
  ``<name>.onnx.json``.

Files are written beside the checkpoint (or ``--out-dir``) as
``<stem>.fp32.onnx`` etc., each through a temp file and a rename.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ..optional import require
from .wav2lip_infer import INPUT_NAMES, OUTPUT_NAME

OPSET = 17
PRECISIONS = ("fp32", "fp16", "int8")


@contextlib.contextmanager
def atomic_output(dst: str | os.PathLike):
    """Yield a temp path beside ``dst``; rename it to ``dst`` only if the block succeeds."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp.onnx", dir=dst.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)


TRANSPOSED_CONVS = ("phases", "subpixel", "native")


def _interleave_phases_fn():
    """A ``torch.autograd.Function``: 4 phase outputs concatenated (py, px, c) -> DepthToSpace(DCR)."""
    import torch

    class InterleavePhases(torch.autograd.Function):
        @staticmethod
        def forward(ctx, y):  # (B, 4C, H, W), channels ordered (py, px, c)
            b, c4, h, w = y.shape
            c = c4 // 4
            return y.reshape(b, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, c, 2 * h, 2 * w)

        @staticmethod
        def symbolic(g, y):
            return g.op("DepthToSpace", y, blocksize_i=2, mode_s="DCR")

    return InterleavePhases


def phase_conv_transpose(convt, relu: bool = True):
    """``ConvTranspose2d(k=3, s=2, p=1, output_padding=1)`` as its exact 4-phase decomposition.

    Output pixel ``(2m+py, 2n+px)`` only sees the taps of its phase: along
    one axis phase 0 is ``x[m]*w[1]`` and phase 1 ``x[m]*w[2] + x[m+1]*w[0]``.
    So the layer is four small convolutions of the input (1x1, 1x2, 2x1, 2x2,
    padded by one zero row/column at the bottom/right where they need it),
    9 taps in all like the transposed convolution itself (the single-conv
    sub-pixel form computes 16), each followed by the block's ReLU, then
    concatenated and interleaved by ``DepthToSpace(DCR)``.  Stride-1
    transposed convolutions go to ``SubpixelConvTranspose`` (a flipped conv).
    """
    import torch
    from torch import nn
    from .wav2lip_model import SubpixelConvTranspose

    s, k, p, op = convt.stride[0], convt.kernel_size[0], convt.padding[0], convt.output_padding[0]
    if s == 1:
        return SubpixelConvTranspose(convt, relu=relu)
    if (convt.stride, convt.kernel_size, convt.padding, convt.output_padding) != ((2, 2), (3, 3), (1, 1), (1, 1)) \
            or convt.dilation != (1, 1) or convt.groups != 1:
        raise ValueError(f"unsupported transposed convolution (stride {s}, kernel {k}, padding {p}, "
                         f"output padding {op})")
    interleave = _interleave_phases_fn()
    w = convt.weight.detach()                      # (cin, cout, 3, 3)
    b = convt.bias.detach() if convt.bias is not None else torch.zeros(w.shape[1])
    taps = {0: [1], 1: [2, 0]}                     # kernel index per input offset 0, 1

    class PhaseConvTranspose(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = relu
            self.convs = nn.ModuleList()
            self.pads = []
            for py in (0, 1):
                for px in (0, 1):
                    kern = w[:, :, taps[py]][:, :, :, taps[px]]          # (cin, cout, kh, kw)
                    conv = nn.Conv2d(w.shape[0], w.shape[1], tuple(kern.shape[2:]))
                    conv.weight.data = kern.transpose(0, 1).contiguous()
                    conv.bias.data = b.clone()
                    self.convs.append(conv)
                    self.pads.append((0, len(taps[px]) - 1, 0, len(taps[py]) - 1))

        def forward(self, x):
            ys = []
            for conv, pad in zip(self.convs, self.pads):
                y = conv(nn.functional.pad(x, pad) if any(pad) else x)
                ys.append(torch.relu(y) if self.relu else y)
            return interleave.apply(torch.cat(ys, 1))

    return PhaseConvTranspose()


def rewrite_transposed_convs(fused, mode: str = "phases"):
    """Replace the (BatchNorm-fused) transposed convolutions of a ``Wav2Lip`` for export (in place).

    ``phases``: exact 4-phase decomposition (``phase_conv_transpose``);
    ``subpixel``: one conv with 4x the outputs + DepthToSpace (16/9 of the
    work); ``native``: left as ConvTranspose (fp32 only: int8 runtimes keep
    it in float).  The block's ReLU moves inside, before the interleave.
    """
    from torch import nn
    from .wav2lip_model import Conv2dTranspose, subpixel_transposed_convs

    if mode not in TRANSPOSED_CONVS:
        raise ValueError(f"transposed_convs must be one of {', '.join(TRANSPOSED_CONVS)}, got {mode!r}")
    if mode == "subpixel":
        return subpixel_transposed_convs(fused)
    if mode == "phases":
        for m in fused.modules():
            if isinstance(m, Conv2dTranspose):
                if len(m.conv_block) != 1:
                    raise ValueError("fuse_batchnorm() first")
                m.conv_block = nn.Sequential(phase_conv_transpose(m.conv_block[0], relu=True))
                m.act = nn.Identity()
    return fused


def export_fp32(model, dst: str | os.PathLike, opset: int = OPSET, transposed_convs: str = "phases") -> Path:
    """Export a (loaded) ``Wav2Lip`` to ``dst`` with BatchNorm folded and a dynamic batch axis.

    ``transposed_convs``: how the decoder's transposed convolutions are
    written (``rewrite_transposed_convs``); the default 4-phase form computes
    the same outputs with ordinary convolutions, so int8 runtimes quantise
    them too, at the transposed convolutions' own cost.
    """
    torch = require("torch", "torch", "ONNX export")
    require("onnx", "onnx", "ONNX export")
    from .wav2lip_model import fuse_batchnorm

    if opset < 13:
        raise ValueError(f"opset must be 13 or newer, got {opset}")
    fused = rewrite_transposed_convs(fuse_batchnorm(copy.deepcopy(model).cpu().float().eval()), transposed_convs)
    mel = torch.zeros(2, 1, 80, 16)
    face = torch.zeros(2, 6, 96, 96)
    axes = {INPUT_NAMES[0]: {0: "batch"}, INPUT_NAMES[1]: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    with atomic_output(dst) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(fused, (mel, face), str(tmp), dynamo=False, opset_version=opset,
                          input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          dynamic_axes=axes, do_constant_folding=True)
        _set_meta(tmp, precision="fp32", transposed_convs=transposed_convs)
    return Path(dst)


def _set_meta(path: Path, **meta: str) -> None:
    import onnx

    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    model.producer_name = "pipelines.face.export_onnx"
    onnx.save(model, str(path))


def fold_pads_into_convs(model) -> int:
    """Merge zero ``Pad`` nodes (constant pads, spatial only) into the ``Conv`` they feed.

    ONNX Conv takes asymmetric pads, so ``Pad(0,0,1,1) -> Conv`` becomes one
    Conv; the quantiser then sees one QLinearConv instead of a float Pad
    between (de)quantisation.  Returns how many were folded.
    """
    from onnx import numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    folded = 0
    for pad in [n for n in g.node if n.op_type == "Pad"]:
        mode = next((a.s.decode() for a in pad.attribute if a.name == "mode"), "constant")
        if mode != "constant" or len(pad.input) < 2 or pad.input[1] not in inits:
            continue
        if len(pad.input) > 2 and pad.input[2]:
            if pad.input[2] not in inits or np.any(numpy_helper.to_array(inits[pad.input[2]]) != 0):
                continue
        pads = numpy_helper.to_array(inits[pad.input[1]]).astype(np.int64).tolist()
        users = consumers.get(pad.output[0], [])
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            continue
        if len(users) != 1 or users[0].op_type != "Conv" or pad.output[0] in {o.name for o in g.output}:
            continue
        conv = users[0]
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        old = list(attr.ints) if attr is not None else [0, 0, 0, 0]
        if any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET") for a in conv.attribute):
            continue
        new = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]]
        if attr is None:
            from onnx import helper
            conv.attribute.append(helper.make_attribute("pads", new))
        else:
            del attr.ints[:]
            attr.ints.extend(new)
        conv.input[0] = pad.input[0]
        g.node.remove(pad)
        folded += 1
    return folded


def convert_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """fp16 weights and compute; float32 inputs/outputs (casts at the edges)."""
    onnx = require("onnx", "onnx", "fp16 conversion")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(model, keep_io_types=True)
    with atomic_output(dst) as tmp:
        onnx.save(half, str(tmp))
        _set_meta(tmp, precision="fp16")
    return Path(dst)


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, mels: np.ndarray, faces: np.ndarray,
                  batch: int = 16, method: str = "minmax", per_channel: bool = True) -> Path:
    """Static int8 QDQ quantisation of the fp32 model ``src`` calibrated on (mels, faces)."""
    q = require("onnxruntime.quantization", "onnxruntime", "int8 quantisation")
    from .calibration import make_reader

    methods = {"minmax": q.CalibrationMethod.MinMax, "percentile": q.CalibrationMethod.Percentile,
               "entropy": q.CalibrationMethod.Entropy}
    if method not in methods:
        raise ValueError(f"calibration method must be one of {', '.join(methods)}, got {method!r}")
    extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = 99.99
    with atomic_output(dst) as tmp, tempfile.TemporaryDirectory() as work:
        pre = Path(work) / "pre.onnx"
        q.shape_inference.quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        import onnx
        m = onnx.load(str(pre))
        if fold_pads_into_convs(m):
            onnx.save(m, str(pre))
        q.quantize_static(str(pre), str(tmp), make_reader(mels, faces, batch),
                          quant_format=q.QuantFormat.QDQ, per_channel=per_channel,
                          activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          calibrate_method=methods[method], extra_options=extra)
        tied = tie_permutation_scales(tmp)
        _set_meta(tmp, precision="int8", calibration=method, tied_permutations=str(tied),
                  calibration_pairs=str(len(mels)))
    return Path(dst)


def tie_permutation_scales(path: Path, ops=("DepthToSpace", "Reshape", "Transpose")) -> int:
    """Give the Q after a pure permutation (and its DQs) the scale and zero point of the DQ before it.

    The quantiser calibrates a permutation's output separately, though its
    range is its input's; with the same parameters the runtime moves the 8-bit
    values as they are (no requantisation, no rounding).  Likewise the phase
    outputs concatenated before a ``DepthToSpace`` (``phase_conv_transpose``)
    are quantised with the concatenation's own parameters, as one tensor.
    Returns how many Q nodes were tied.
    """
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)

    def set_q(q, scale: str, zero: str) -> None:
        """``q`` and every DQ reading it take (scale, zero)."""
        q.input[1], q.input[2] = scale, zero
        for dq in consumers.get(q.output[0], []):
            if dq.op_type == "DequantizeLinear" and len(dq.input) >= 3:
                dq.input[1], dq.input[2] = scale, zero

    tied = 0
    for n in g.node:   # phase concatenations: Q_i -> DQ_i -> Concat -> Q_c -> DQ_c -> DepthToSpace
        if n.op_type != "Concat":
            continue
        outs = consumers.get(n.output[0], [])
        if len(outs) != 1 or outs[0].op_type != "QuantizeLinear" or len(outs[0].input) < 3:
            continue
        qc = outs[0]
        if not any(u.op_type == "DequantizeLinear" and any(v.op_type == "DepthToSpace" for v in consumers.get(u.output[0], []))
                   for u in consumers.get(qc.output[0], [])):
            continue
        for name in n.input:
            dq = producer.get(name)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is not None and q.op_type == "QuantizeLinear" and len(q.input) >= 3 \
                    and all(c.op_type == "DequantizeLinear" for c in consumers.get(q.output[0], [])):
                set_q(q, qc.input[1], qc.input[2])
                tied += 1
    for n in g.node:
        if n.op_type not in ops:
            continue
        dq = producer.get(n.input[0])
        users = consumers.get(n.output[0], [])
        if dq is None or dq.op_type != "DequantizeLinear" or len(dq.input) < 3:
            continue
        for q in users:
            if q.op_type == "QuantizeLinear" and len(q.input) >= 3:
                set_q(q, dq.input[1], dq.input[2])
                tied += 1
    used = {name for n in g.node for name in n.input} | {o.name for o in g.output}
    unused = [i for i in g.initializer if i.name not in used]   # the replaced scales / zero points
    for init in unused:
        g.initializer.remove(init)
    onnx.save(model, str(path))
    return tied


# -- int8 on CPUs: one layout for the whole network ------------------------------------
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
#: com.microsoft 8-bit ops that work in any layout, and which inputs carry data
_LAYOUT_FREE = {"QLinearAdd": (0, 3), "QLinearSigmoid": (0,), "QLinearLeakyRelu": (0,)}


def _perm(node) -> list[int] | None:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)


def nhwc_layout_pass(model, shapes: dict[str, list]) -> int:
    """Keep an ORT-optimised int8 graph in NHWC from the first conv to the last (in place).

    ONNX Runtime runs 8-bit convolutions as NHWC ``QLinearConv`` and puts
    NCHW<->NHWC ``Transpose`` pairs around every op it cannot move between
    layouts: ``DepthToSpace`` (NCHW only), the skip ``QLinearConcat`` and the
    residual ``QLinearAdd`` that follow it.  This pass

    * writes each ``DepthToSpace(DCR, 2)`` fed by an NHWC tensor as its NHWC
      equivalent, ``Reshape (B,H,W,2,2C) -> Transpose (B,H,2,W,2C) -> Reshape
      (B,2H,2W,C)`` (``shapes``: the NCHW shapes by tensor name);
    * moves the NHWC->NCHW transposes below layout-free ops (8-bit concat on
      the channel axis, add, sigmoid) and cancels NCHW->NHWC->NCHW pairs,
      until nothing moves.

    The 8-bit values are only moved, so outputs are bit-identical.  Returns
    how many rewrites were made.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    outs = {o.name for o in g.output}

    def maps():
        prod = {o: n for n in g.node for o in n.output}
        cons: dict[str, list] = {}
        for n in g.node:
            for name in n.input:
                cons.setdefault(name, []).append(n)
        return prod, cons

    def is_to_nchw(node) -> bool:
        return node is not None and node.op_type == "Transpose" and _perm(node) == _TO_NCHW

    changed = 0
    prod, _ = maps()
    for n in list(g.node):
        if n.op_type != "DepthToSpace" or not is_to_nchw(prod.get(n.input[0])):
            continue
        attrs = {a.name: a for a in n.attribute}
        if attrs.get("mode") and attrs["mode"].s != b"DCR" or attrs["blocksize"].i != 2:
            continue
        shape = shapes.get(n.output[0])
        if not shape or len(shape) != 4 or not all(shape[1:]):
            continue
        c, h2, w2 = shape[1:]
        x, out, base = prod[n.input[0]].input[0], n.output[0], n.name or n.output[0]
        s1 = numpy_helper.from_array(np.array([0, h2 // 2, w2 // 2, 2, 2 * c], np.int64), base + "/nhwc_shape1")
        s2 = numpy_helper.from_array(np.array([0, h2, w2, c], np.int64), base + "/nhwc_shape2")
        g.initializer.extend([s1, s2])
        g.node.remove(n)
        g.node.extend([
            helper.make_node("Reshape", [x, s1.name], [base + "/nhwc_r1"], name=base + "/nhwc_r1"),
            helper.make_node("Transpose", [base + "/nhwc_r1"], [base + "/nhwc_t"], perm=[0, 1, 3, 2, 4],
                             name=base + "/nhwc_t"),
            helper.make_node("Reshape", [base + "/nhwc_t", s2.name], [out + "/nhwc"], name=base + "/nhwc_r2"),
            helper.make_node("Transpose", [out + "/nhwc"], [out], perm=_TO_NCHW, name=out + "/to_nchw")])
        changed += 1
    while True:
        moved = 0
        prod, _ = maps()
        for n in list(g.node):
            if n.op_type == "QLinearConcat":
                data = tuple(range(2, len(n.input), 3))
            elif n.op_type in _LAYOUT_FREE and n.domain == "com.microsoft":
                data = _LAYOUT_FREE[n.op_type]
            else:
                continue
            if not all(is_to_nchw(prod.get(n.input[i])) for i in data):
                continue
            if n.op_type == "QLinearConcat":
                axis = next(a for a in n.attribute if a.name == "axis")
                if axis.i not in (1, -3):
                    continue
                axis.i = 3
            for i in data:
                n.input[i] = prod[n.input[i]].input[0]
            old = n.output[0]
            n.output[0] = old + "/nhwc"
            g.node.append(helper.make_node("Transpose", [n.output[0]], [old], perm=_TO_NCHW, name=old + "/to_nchw"))
            moved += 1
        prod, cons = maps()
        for n in list(g.node):   # NCHW -> NHWC of an NHWC -> NCHW: read the NHWC tensor directly
            if n.op_type == "Transpose" and _perm(n) == _TO_NHWC and is_to_nchw(prod.get(n.input[0])) \
                    and n.output[0] not in outs:
                for user in cons.get(n.output[0], []):
                    for k, name in enumerate(user.input):
                        if name == n.output[0]:
                            user.input[k] = prod[n.input[0]].input[0]
                g.node.remove(n)
                moved += 1
        while True:   # nodes nobody reads any more
            _, cons = maps()
            dead = [n for n in g.node if not any(cons.get(o) or o in outs for o in n.output)]
            if not dead:
                break
            for n in dead:
                g.node.remove(n)
        changed += moved
        if not moved:
            break
    # topological order for the appended nodes
    ready = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    order, pending = [], list(g.node)
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                order.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ValueError("layout pass left a graph with a cycle")
        pending = rest
    del g.node[:]
    g.node.extend(order)
    used = {name for n in g.node for name in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    return changed


def cpu_int8_model(src: str | os.PathLike):
    """The int8 QDQ export as ONNX Runtime will run it on CPUs, in one layout (an ``onnx.ModelProto``).

    ONNX Runtime fuses the Q/DQ pairs into 8-bit ops (``QLinearConv`` NHWC
    with ReLU folded, ``QLinearAdd``, ``QLinearConcat``); its optimised graph
    is saved and ``nhwc_layout_pass`` removes the layout transposes it left
    (about 10 % of int8 time).  Load the result with ``InferenceSession(
    model.SerializeToString())``; only ONNX Runtime's CPU provider runs it.
    """
    import onnx
    import onnxruntime as ort

    qdq = onnx.shape_inference.infer_shapes(onnx.load(str(src)))
    shapes = {}
    for vi in list(qdq.graph.value_info) + list(qdq.graph.output):
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    with tempfile.TemporaryDirectory() as work:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = str(Path(work) / "opt.onnx")
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3   # the "hardware specific optimisations" notice: none here (8-bit ops)
        ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
        model = onnx.load(opts.optimized_model_filepath)
    rewrites = nhwc_layout_pass(model, shapes)
    entry = model.metadata_props.add()
    entry.key, entry.value = "cpu_layout", f"nhwc ({rewrites} rewrites)"
    return model


def run_model(path: str | os.PathLike, mels: np.ndarray, faces: np.ndarray, batch: int = 16,
              threads: int = 0) -> np.ndarray:
    from .wav2lip_infer import Wav2LipInference

    inf = Wav2LipInference(path, runtime="onnx", threads=threads).load()
    return np.concatenate([inf(mels[i:i + batch], faces[i:i + batch]) for i in range(0, len(mels), batch)])


def compare(reference: np.ndarray, test: np.ndarray) -> dict:
    from .calibration import psnr

    return {"psnr_db": round(float(psnr(reference, test)), 2),
            "max_abs": round(float(np.max(np.abs(reference - test))), 5),
            "mean_abs": round(float(np.mean(np.abs(reference - test))), 5)}


# -- command line --------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines export-onnx", description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", help="settings JSON (default: settings.json if present)")
    p.add_argument("--checkpoint", help="Wav2Lip .pth (default: face.checkpoint from the settings)")
    p.add_argument("--out-dir", help="where the .onnx files go (default: beside the checkpoint)")
    p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                   help="which exports to make (default: all three)")
    p.add_argument("--persona", help="persona folder whose enrolled face calibrates int8 (default: settings)")
    p.add_argument("--calib-frames", type=int, default=128, help="face/mel pairs for int8 calibration")
    p.add_argument("--check-frames", type=int, default=48, help="held-out pairs for the PSNR check")
    p.add_argument("--calibrate", default="minmax", choices=("minmax", "percentile", "entropy"))
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ..settings import SettingsError, load_settings
    from .wav2lip_checkpoint import CheckpointError, load_wav2lip

    try:
        settings = load_settings(args.settings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    ckpt = args.checkpoint or settings.face.checkpoint
    if not ckpt:
        print("no checkpoint: pass --checkpoint module/wav2lip/wav2lip_gan.pth or set face.checkpoint",
              file=sys.stderr)
        return 2
    ckpt_path = settings.resolve(ckpt)
    if ckpt_path.suffix.lower() == ".onnx":
        print(f"{ckpt_path}: already an ONNX model; export-onnx needs the PyTorch .pth checkpoint", file=sys.stderr)
        return 2
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    try:
        model = load_wav2lip(ckpt_path)
    except CheckpointError as exc:
        print(exc, file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir) if args.out_dir else ckpt_path.parent
    stem = ckpt_path.stem
    paths = {p: out_dir / f"{stem}.{p}.onnx" for p in PRECISIONS}
    report: dict = {"checkpoint": str(ckpt_path), "opset": args.opset, "files": {}}

    t0 = time.perf_counter()
    export_fp32(model, paths["fp32"], args.opset)
    report["files"]["fp32"] = str(paths["fp32"])
    print(f"fp32  {paths['fp32']}  ({time.perf_counter() - t0:.1f} s)")

    if "fp16" in args.precision:
        t0 = time.perf_counter()
        convert_fp16(paths["fp32"], paths["fp16"])
        report["files"]["fp16"] = str(paths["fp16"])
        print(f"fp16  {paths['fp16']}  ({time.perf_counter() - t0:.1f} s)")

    if "int8" in args.precision:
        try:
            mels_c, faces_c, mels_h, faces_h, source = _calibration_data(settings, args)
        except Exception as exc:  # no enrolled face, no espeak, ...
            print(f"int8 not made: {exc}", file=sys.stderr)
            return 1
        t0 = time.perf_counter()
        quantize_int8(paths["fp32"], paths["int8"], mels_c, faces_c, method=args.calibrate)
        report["files"]["int8"] = str(paths["int8"])
        report["calibration"] = {"pairs": int(len(mels_c)), "face": source, "method": args.calibrate,
                                 "held_out_pairs": int(len(mels_h))}
        print(f"int8  {paths['int8']}  ({time.perf_counter() - t0:.1f} s, {len(mels_c)} calibration pairs "
              f"from {source})")
        ref = run_model(paths["fp32"], mels_h, faces_h, threads=args.threads)
        report["check"] = {"int8_vs_fp32": compare(ref, run_model(paths["int8"], mels_h, faces_h,
                                                                  threads=args.threads))}
        if "fp16" in args.precision:
            try:
                report["check"]["fp16_vs_fp32"] = compare(ref, run_model(paths["fp16"], mels_h, faces_h,
                                                                         threads=args.threads))
            except Exception as exc:  # some CPU builds lack fp16 kernels
                report["check"]["fp16_vs_fp32"] = {"error": str(exc).splitlines()[0]}
        for k, v in report["check"].items():
            print(f"check {k}: {v}")
    from ..settings import atomic_write_text
    atomic_write_text(out_dir / f"{stem}.onnx.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"set face.checkpoint to one of these files to use it (int8 for CPUs, fp16 for GPUs)")
    return 0


def _calibration_data(settings, args):
    """(calibration mels, faces, held-out mels, faces, face source) from the persona's avatar + espeak."""
    from ..persona import Persona
    from .avatar import load_avatar
    from .calibration import SENTENCES, paired_inputs, speech_samples, speech_windows

    persona = Persona.load(Path(args.persona) if args.persona else settings.persona_dir)
    avatar = load_avatar(persona, settings)
    fps = float(settings.face.fps)
    calib = speech_windows(speech_samples(persona, SENTENCES[0::2]), fps, settings.face.silence_db)
    held = speech_windows(speech_samples(persona, SENTENCES[1::2]), fps, settings.face.silence_db)
    crops = np.asarray(avatar.crops)
    mels_c, faces_c = paired_inputs(crops, calib, args.calib_frames, seed=0)
    # held-out: the crops in reverse order with the other sentences
    mels_h, faces_h = paired_inputs(crops[::-1], held, args.check_frames, seed=1)
    return mels_c, faces_c, mels_h, faces_h, f"{avatar.source} ({len(crops)} crops)"

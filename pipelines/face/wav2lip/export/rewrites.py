"""ONNX graph rewrites that make the Wav2Lip generator fast in 8-bit on CPU.

* ``phase_conv_transpose`` / ``rewrite_transposed_convs``: each stride-2
  transposed convolution as its exact 4-phase decomposition (1x1, 1x2, 2x1 and
  2x2 convs + DepthToSpace), 9 taps instead of 16, so int8 runtimes run them
  as quantised convolutions.
* ``fold_pads_into_convs``: explicit Pad nodes folded into the following Conv.
* ``tie_permutation_scales``: Q/DQ pairs around pure permutations share one
  scale, so ORT fuses the whole graph into 8-bit ops.
* ``nhwc_layout_pass`` / ``cpu_int8_model``: ORT's fused 8-bit graph kept in
  one NHWC layout (layout transposes sunk through QLinearConcat/QLinearAdd and
  cancelled), used by ``Wav2LipInference`` for int8 exports on the CPU.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

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

    from pipelines.face.wav2lip.model import SubpixelConvTranspose

    s, k, p, op = convt.stride[0], convt.kernel_size[0], convt.padding[0], convt.output_padding[0]
    if s == 1:
        return SubpixelConvTranspose(convt, relu=relu)
    if (
        (convt.stride, convt.kernel_size, convt.padding, convt.output_padding) != ((2, 2), (3, 3), (1, 1), (1, 1))
        or convt.dilation != (1, 1)
        or convt.groups != 1
    ):
        raise ValueError(
            f"unsupported transposed convolution (stride {s}, kernel {k}, padding {p}, output padding {op})"
        )
    interleave = _interleave_phases_fn()
    w = convt.weight.detach()  # (cin, cout, 3, 3)
    b = convt.bias.detach() if convt.bias is not None else torch.zeros(w.shape[1])
    taps = {0: [1], 1: [2, 0]}  # kernel index per input offset 0, 1

    class PhaseConvTranspose(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = relu
            self.convs = nn.ModuleList()
            self.pads = []
            for py in (0, 1):
                for px in (0, 1):
                    kern = w[:, :, taps[py]][:, :, :, taps[px]]  # (cin, cout, kh, kw)
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
    from pipelines.face.wav2lip.model import replace_transposed_convs, subpixel_transposed_convs

    if mode not in TRANSPOSED_CONVS:
        raise ValueError(f"transposed_convs must be one of {', '.join(TRANSPOSED_CONVS)}, got {mode!r}")
    if mode == "subpixel":
        return subpixel_transposed_convs(fused)
    if mode == "phases":
        return replace_transposed_convs(fused, lambda convt: phase_conv_transpose(convt, relu=True))
    return fused


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
    for n in g.node:  # phase concatenations: Q_i -> DQ_i -> Concat -> Q_c -> DQ_c -> DepthToSpace
        if n.op_type != "Concat":
            continue
        outs = consumers.get(n.output[0], [])
        if len(outs) != 1 or outs[0].op_type != "QuantizeLinear" or len(outs[0].input) < 3:
            continue
        qc = outs[0]
        if not any(
            u.op_type == "DequantizeLinear" and any(v.op_type == "DepthToSpace" for v in consumers.get(u.output[0], []))
            for u in consumers.get(qc.output[0], [])
        ):
            continue
        for name in n.input:
            dq = producer.get(name)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if (
                q is not None
                and q.op_type == "QuantizeLinear"
                and len(q.input) >= 3
                and all(c.op_type == "DequantizeLinear" for c in consumers.get(q.output[0], []))
            ):
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
    unused = [i for i in g.initializer if i.name not in used]  # the replaced scales / zero points
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
        g.node.extend(
            [
                helper.make_node("Reshape", [x, s1.name], [base + "/nhwc_r1"], name=base + "/nhwc_r1"),
                helper.make_node(
                    "Transpose", [base + "/nhwc_r1"], [base + "/nhwc_t"], perm=[0, 1, 3, 2, 4], name=base + "/nhwc_t"
                ),
                helper.make_node("Reshape", [base + "/nhwc_t", s2.name], [out + "/nhwc"], name=base + "/nhwc_r2"),
                helper.make_node("Transpose", [out + "/nhwc"], [out], perm=_TO_NCHW, name=out + "/to_nchw"),
            ]
        )
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
        for n in list(g.node):  # NCHW -> NHWC of an NHWC -> NCHW: read the NHWC tensor directly
            if (
                n.op_type == "Transpose"
                and _perm(n) == _TO_NHWC
                and is_to_nchw(prod.get(n.input[0]))
                and n.output[0] not in outs
            ):
                for user in cons.get(n.output[0], []):
                    for k, name in enumerate(user.input):
                        if name == n.output[0]:
                            user.input[k] = prod[n.input[0]].input[0]
                g.node.remove(n)
                moved += 1
        while True:  # nodes nobody reads any more
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
        opts.log_severity_level = 3  # the "hardware specific optimisations" notice: none here (8-bit ops)
        ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
        model = onnx.load(opts.optimized_model_filepath)
    rewrites = nhwc_layout_pass(model, shapes)
    entry = model.metadata_props.add()
    entry.key, entry.value = "cpu_layout", f"nhwc ({rewrites} rewrites)"
    return model

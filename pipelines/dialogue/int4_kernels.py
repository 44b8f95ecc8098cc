"""The two CPU kernels that multiply by a 4-bit grouped weight (``dialogue.chatglm.quantize int4``).

Both run the same weights: per group of ``group`` input columns a float scale and an integer
zero point ``zp`` in 0..15, ``w = (q - zp) * scale`` (asymmetric, as ONNX Runtime's own 4-bit
quantiser does).

* ``OrtInt4Kernel``: ONNX Runtime's ``MatMulNBits`` contrib operator (one small session per
  layer, ``accuracy_level`` 4: the activations are quantised to int8 per block and the
  products run on VNNI/AMX int8 instructions).  On the 6B layer shapes it reads the weights at
  23–29 GB/s for one token, about 3x ``aten._weight_int4pack_mm_for_cpu`` (9–11 GB/s, limited
  by its unpacking), so decoding is bound by memory again (``bench dialogue --kernels``).
* ``TorchInt4Kernel``: ``aten._weight_int4pack_mm_for_cpu`` with bf16 activations, for a
  machine without onnxruntime.

Neither is fast for a long prompt: ``int4+int8`` keeps an int8 copy for those rows.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ..optional import require

torch = require("torch", purpose="weight quantisation")
ACCURACY_LEVEL = 4  # MatMulNBits: int8 activations (the VNNI/AMX path); 0 would dequantise to fp32


def quantize_groups(weight, group: int):
    """``(q, scale, zp)`` of an ``(n, k)`` weight: ``q`` (n, k) and ``zp`` (n, k/group) int in 0..15, ``scale`` float."""
    n, k = weight.shape
    w = weight.detach().float().reshape(n, k // group, group)
    lo = w.amin(-1).clamp(max=0.0)  # the range holds 0, so zp is a valid 4-bit integer
    hi = w.amax(-1).clamp(min=0.0)
    scale = ((hi - lo) / 15).clamp(min=1e-8)
    zp = torch.round(-lo / scale).clamp(0, 15)
    q = torch.round(w / scale[..., None] + zp[..., None]).clamp(0, 15)
    return q.to(torch.uint8).reshape(n, k), scale, zp.to(torch.uint8)


def dequantize(q, scale, zp, group: int):
    """The float weight the kernels multiply by (tests and checks)."""
    n, k = q.shape
    w = (q.float().reshape(n, k // group, group) - zp.float()[..., None]) * scale[..., None]
    return w.reshape(n, k)


def _nibbles(a: np.ndarray) -> np.ndarray:
    """Pairs along the last axis packed into one byte each, the even element in the low nibble."""
    if a.shape[-1] % 2:
        a = np.concatenate([a, np.zeros((*a.shape[:-1], 1), a.dtype)], -1)
    return (a[..., 0::2] | (a[..., 1::2] << 4)).astype(np.uint8)


class TorchInt4Kernel:
    """``aten._weight_int4pack_mm_for_cpu`` over the weights of ``quantize_groups`` (bf16 activations)."""

    name = "torch-int4pack"

    def __init__(self, q, scale, zp, group: int) -> None:
        n, k = q.shape
        self.n, self.k, self.group = n, k, group
        rows = -(-n // 16) * 16  # the kernel packs 16 output rows at a time: pad with zero rows
        qp = torch.zeros(rows, k, dtype=torch.int32)
        qp[:n] = q.to(torch.int32)
        self.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(qp, 1)
        # the kernel computes (q - 8) * scale + zero: zero = (8 - zp) * scale is the same weight
        s = torch.ones(rows, k // group)
        z = torch.zeros(rows, k // group)
        s[:n], z[:n] = scale, (8 - zp.float()) * scale
        self.scales_zeros = torch.stack((s, z), -1).transpose(0, 1).contiguous().to(torch.bfloat16)

    def __call__(self, x2):
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(
            x2.to(torch.bfloat16), self.packed, self.group, self.scales_zeros
        )
        return y[:, : self.n]

    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size() + self.scales_zeros.numel() * 2


class OrtInt4Kernel:
    """ONNX Runtime ``MatMulNBits`` (4 bits, int8 activations) over the weights of ``quantize_groups``."""

    name = "ort-matmulnbits"

    def __init__(self, q, scale, zp, group: int, threads: int | None = None) -> None:
        ort = require("onnxruntime", purpose="the int4 ONNX Runtime kernel")
        from onnx import TensorProto, helper, numpy_helper

        n, k = q.shape
        self.n, self.k, self.group = n, k, group
        blocks = k // group
        b = _nibbles(q.numpy().reshape(n, blocks, group))  # (n, blocks, group / 2)
        z = _nibbles(zp.numpy()).reshape(-1)  # (n * ceil(blocks / 2),)
        s = scale.numpy().astype(np.float32).reshape(-1)  # (n * blocks,)
        self._bytes = b.nbytes + z.nbytes + s.nbytes
        node = helper.make_node(
            "MatMulNBits",
            ["A", "B", "scales", "zero_points"],
            ["Y"],
            domain="com.microsoft",
            K=k,
            N=n,
            bits=4,
            block_size=group,
            accuracy_level=ACCURACY_LEVEL,
        )
        graph = helper.make_graph(
            [node],
            "int4_linear",
            [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", k])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
            initializer=[
                numpy_helper.from_array(b, "B"),
                numpy_helper.from_array(s, "scales"),
                numpy_helper.from_array(z, "zero_points"),
            ],
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        )
        model.ir_version = 9  # what the pinned onnxruntime reads
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or torch.get_num_threads()
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # torch's threads run between calls
        self.session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def __call__(self, x2):
        a = x2.detach().float().contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {"A": a})[0])

    def nbytes(self) -> int:
        return self._bytes


def kernel_class(preference: str = "auto") -> Any:
    """ORT's kernel when onnxruntime is installed (``preference`` "torch" asks for torch's), else torch's."""
    if preference != "torch" and importlib.util.find_spec("onnxruntime") is not None:
        return OrtInt4Kernel
    return TorchInt4Kernel

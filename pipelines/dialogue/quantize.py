"""CPU weight-only quantisation of a language model's Linear layers (``dialogue.chatglm.quantize``).

- ``int8``: torch's dynamic int8 Linear (per-output-channel int8 weights, the
  activations quantised per call; oneDNN/FBGEMM VNNI kernels).  Measured on the
  6B layer shapes it is as fast as ``torch._weight_int8pack_mm`` for one token
  and 5x faster for a prompt (see ``pipelines/bench/glm_shapes.py``), so it stays.
- ``int4``: 4-bit weights in groups of 128 (32 for layers narrower than 2048) with a
  scale and integer zero point per group, run by ONNX Runtime's ``MatMulNBits``
  (int8 activations; torch's ``aten._weight_int4pack_mm_for_cpu`` without onnxruntime),
  see ``int4_kernels.py``.  The fastest decode (3x torch's int4 kernel on the 6B
  shapes), but its cost grows with every row, so a 40-token prompt is ~2x slower than int8.
- ``int4+int8``: both: int4 for decoding one token, the int8 copy for prompts of more
  than ``PREFILL_ROWS`` tokens; fast decode and fast first token for the memory of both.

Prefix encoders (P-tuning) and LoRA's A/B matrices are never quantised; they stay float32.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import TYPE_CHECKING, Any

from ..optional import require

MODES = ("none", "int8", "int4", "int4+int8")
PREFILL_ROWS = 4  # int4+int8: prompts longer than this go through the int8 copy
GROUP_SIZES = (128, 64, 32)

if TYPE_CHECKING:
    from ..settings import ChatGLMSettings

torch = require("torch", purpose="weight quantisation")
_Module: Any = torch.nn.Module


def resolve_mode(ds: ChatGLMSettings) -> str:
    """``dialogue.chatglm.quantize``, with the older ``dialogue.chatglm.quantize_int8`` switch meaning int8."""
    mode = ds.quantize or "none"
    if mode not in MODES:
        raise ValueError(f"dialogue.chatglm.quantize must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none" and ds.quantize_int8:
        return "int8"
    return mode


def problem(mode: str, device: str, dtype) -> str | None:
    """Why ``mode`` cannot run with this device / dtype, as a line that says what to do."""
    if mode == "none":
        return None
    if device != "cpu":
        return f"dialogue.chatglm.quantize {mode} is for the CPU; on a GPU set dialogue.chatglm.quantize to none"
    if mode == "int8" and dtype != torch.float32:
        return (
            "dialogue.chatglm.quantize int8 works with dtype fp32 (int8 weights, fp32 activations); set "
            "dialogue.chatglm.dtype to fp32 or auto, or use dialogue.chatglm.quantize int4 (fp32 or bf16)"
        )
    if mode.startswith("int4") and dtype not in (torch.float32, torch.bfloat16):
        return (
            f"dialogue.chatglm.quantize {mode} works with dtype fp32 or bf16; set dialogue.chatglm.dtype to one of them"
        )
    no_ort = importlib.util.find_spec("onnxruntime") is None
    if mode.startswith("int4") and no_ort and not hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu"):
        return f"this torch ({torch.__version__}) has no int4 CPU kernel; use dialogue.chatglm.quantize int8"
    return None


def group_size(in_features: int) -> int | None:
    """128 for wide layers (the 6B models: 32+ groups a row); 32 for narrow ones so a row keeps several."""
    for g in GROUP_SIZES if in_features >= 2048 else GROUP_SIZES[::-1]:
        if in_features % g == 0:
            return g
    return None


class Int4Linear(_Module):
    """``y = x W^T + b`` with W in 4-bit groups (``w = (q - zp) * scale``, see ``int4_kernels``)."""

    def __init__(self, weight, bias, group: int, prefill=None, kernel: str = "auto") -> None:
        super().__init__()
        from .int4_kernels import kernel_class, quantize_groups

        self.prefill = prefill  # int4+int8: the int8 Linear that runs prompts
        out, k = weight.shape
        self.in_features, self.out_features, self.group = k, out, group
        q, scale, zp = quantize_groups(weight, group)
        self.kernel = kernel_class(kernel)(q, scale, zp, group)
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().float(), requires_grad=False)

    def forward(self, x):
        shape = x.shape
        if self.prefill is not None and x.numel() > PREFILL_ROWS * self.in_features:
            return self.prefill(x.float()).to(x.dtype)
        y = self.kernel(x.reshape(-1, self.in_features)).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias.to(x.dtype)
        return y.reshape(*shape[:-1], self.out_features)

    def weight_bytes(self) -> int:
        return self.kernel.nbytes()

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, group={self.group}, {self.kernel.name}"
        )


def quantize_linear(lin, mode: str):
    """The quantised replacement of one ``nn.Linear`` (or the layer itself when it cannot be)."""
    if mode == "int8":
        lin.float()
        lin.qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        with warnings.catch_warnings():  # torch's deprecation notice for its quantized tensors
            warnings.simplefilter("ignore")
            return torch.ao.nn.quantized.dynamic.Linear.from_float(lin)
    if mode in ("int4", "int4+int8"):
        g = group_size(lin.in_features)
        if g is None:
            return lin
        weight, bias = lin.weight.detach(), None if lin.bias is None else lin.bias.detach()
        prefill = quantize_linear(lin, "int8") if mode == "int4+int8" else None
        return Int4Linear(weight, bias, g, prefill)
    return lin


def _skip(name: str) -> bool:
    """P-tuning encoders and LoRA's own small matrices stay float (the layer LoRA wraps is quantised)."""
    return "prefix_encoder" in name or "prompt_encoder" in name or ".lora_" in name


def quantize_model(model, mode: str):
    """Every Linear outside the prefix encoders swapped for its ``mode`` version (in place)."""
    if mode == "none":
        return model
    todo = [name for name, mod in model.named_modules() if type(mod) is torch.nn.Linear and name and not _skip(name)]
    for name in todo:
        parent, _, attr = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, attr, quantize_linear(getattr(owner, attr), mode))
    return model


def quantized_linears(model) -> int:
    return sum(isinstance(m, (Int4Linear, torch.ao.nn.quantized.dynamic.Linear)) for m in model.modules())

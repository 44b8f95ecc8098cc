"""``bench dialogue --kernels``: the CPU weight-only matmul kernels of the pinned torch on the 6B layer shapes.

For each Linear shape of ChatGLM-6B (4096 -> 12288 / 4096 / 16384, 16384 -> 4096) and
ChatGLM2/3-6B (4096 -> 4608 / 4096 / 27392, 13696 -> 4096) it times ``y = x W^T`` for one
token (decoding) and for ``--rows`` tokens (a prompt) with:

- ``fp32`` / ``bf16``: ``F.linear`` (bf16 goes to oneDNN's AMX / AVX512-BF16 kernels when
  the CPU has them);
- ``int8_dynamic``: torch's dynamic int8 Linear (per-channel int8 weights, activations
  quantised per call; FBGEMM / oneDNN VNNI), what ``dialogue.chatglm.quantize int8`` uses;
- ``int8_pack``: ``torch._weight_int8pack_mm`` (gpt-fast's weight-only int8, bf16 activations);
- ``int4_pack``: ``aten._weight_int4pack_mm_for_cpu`` (groups of 128, bf16 activations),
  what ``dialogue.chatglm.quantize int4`` uses without onnxruntime;
- ``int4_ort``: ONNX Runtime's ``MatMulNBits`` on the same 4-bit weights (int8 activations),
  what ``dialogue.chatglm.quantize int4`` uses.

Reported: milliseconds per call and the weight bytes read per millisecond (GB/s), so
the figures can be set against the memory bandwidth (``copy_gb_s``, a 1 GiB copy).
"""

from __future__ import annotations

import copy
import time

SHAPES = {
    "chatglm-6b": [(4096, 12288), (4096, 4096), (4096, 16384), (16384, 4096)],
    "chatglm2-6b": [(4096, 4608), (4096, 4096), (4096, 27392), (13696, 4096)],
}


def _ms(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):  # the best of a few: other processes share the cores
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def copy_gb_s(mib: int = 1024) -> float:
    import torch

    a = torch.empty(mib * 1024 * 1024 // 4)
    a.fill_(1.0)
    b = torch.empty_like(a)
    ms = _ms(lambda: b.copy_(a), 3)
    return 2 * a.numel() * 4 / ms / 1e6


def kernels_for(k: int, n: int, rows: int, repeat: int = 3) -> dict:
    """Timings of every kernel for an ``n x k`` weight, 1 row and ``rows`` rows."""
    import torch

    from ..dialogue.quantize import Int4Linear, group_size, quantize_linear

    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(k, n, bias=False)
    with torch.no_grad():
        lin.weight.normal_(0, 0.02, generator=g)
    w = lin.weight.detach()
    wb = w.bfloat16()
    scale = w.abs().amax(1) / 127
    w8 = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
    q8 = quantize_linear(copy.deepcopy(lin), "int8")
    q4 = Int4Linear(w, None, group_size(k) or 32, kernel="torch")
    q4o = Int4Linear(w, None, group_size(k) or 32, kernel="auto")
    out = {}
    for m in (1, rows):
        x = torch.randn(m, k, generator=g)
        xb = x.bfloat16()
        ref = x @ w.t()
        runs = {
            "fp32": (lambda: torch.nn.functional.linear(x, w), 4 * n * k),
            "bf16": (lambda: torch.nn.functional.linear(xb, wb), 2 * n * k),
            "int8_dynamic": (lambda: q8(x), n * k),
            "int8_pack": (lambda: torch._weight_int8pack_mm(xb, w8, scale.bfloat16()), n * k),
            "int4_pack": (lambda: q4(x), n * k // 2),
            "int4_ort": (lambda: q4o(x), n * k // 2),
        }
        row = {}
        with torch.inference_mode():
            for name, (fn, nbytes) in runs.items():
                ms = _ms(fn, repeat)
                err = float((fn().float() - ref).norm() / ref.norm())
                row[name] = {"ms": ms, "gb_s": nbytes / ms / 1e6, "rel_err": err}
        out["1_row" if m == 1 else f"{rows}_rows"] = row
    return out


def bench_kernels(rows: int = 32, models: tuple[str, ...] = tuple(SHAPES), repeat: int = 3) -> dict:
    import torch

    result = {"threads": torch.get_num_threads(), "copy_gb_s": copy_gb_s(), "shapes": {}}
    for model in models:
        for k, n in SHAPES[model]:
            result["shapes"][f"{model} {k}->{n}"] = kernels_for(k, n, rows, repeat)
    return result

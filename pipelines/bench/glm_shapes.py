"""``bench dialogue --shapes 6b``: our ChatGLM-6B at its real layer shapes, 1 and 2 layers, scaled to 28.

Random weights made directly in the variant's dtype (fp32, bf16, or int8 = per-channel dynamic
int8 Linear layers with fp32 activations).  For 1 and 2 layers it times the prefill of a
``--history``-token prompt (time to first token) and greedy decoding with the KV cache; one
layer's cost is the difference, so a 28-layer figure is ``t(1) + 27 * (t(2) - t(1))``.
Memory: the process peak RSS here, and the weight bytes a 28-layer model would hold.
"""

from __future__ import annotations

import gc
import time

SHAPES_6B = {
    "vocab_size": 130528,
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "inner_hidden_size": 16384,
    "full_layers": 28,
}


def _build(layers: int, variant: str):
    import torch

    from ..dialogue.glm.chatglm6b_model import ChatGLM6B, GLM6BConfig
    from ..dialogue.glm.folder import _quantize_if_complete

    s = SHAPES_6B
    cfg = GLM6BConfig(
        vocab_size=s["vocab_size"],
        hidden_size=s["hidden_size"],
        num_layers=layers,
        num_attention_heads=s["num_attention_heads"],
        inner_hidden_size=s["inner_hidden_size"],
    )
    with torch.device("meta"):
        model = ChatGLM6B(cfg)
    dtype = torch.bfloat16 if variant == "bf16" else torch.float32
    g = torch.Generator().manual_seed(0)
    for mod_name, mod in list(model.named_modules()):
        for name, p in list(mod.named_parameters(recurse=False)):
            t = torch.empty(p.shape, dtype=dtype)
            if t.dim() > 1:
                t.normal_(0.0, 0.02, generator=g)
            else:
                t.fill_(1.0 if "layernorm" in mod_name and name == "weight" else 0.0)
            setattr(mod, name, torch.nn.Parameter(t, requires_grad=False))
        if variant == "int8" and ".layers." in mod_name and isinstance(mod, torch.nn.Linear):
            _quantize_if_complete(model, mod_name)
    model._seq_cache = []
    weight_bytes = {"layers": 0, "other": 0}
    qlin = torch.ao.nn.quantized.dynamic.Linear
    for n, mod in model.named_modules():
        key = "layers" if ".layers." in n else "other"
        if isinstance(mod, qlin):
            w, b = mod.weight(), mod.bias()
            weight_bytes[key] += w.numel() + w.shape[0] * 8 + (b.numel() * 4 if b is not None else 0)
        else:
            weight_bytes[key] += sum(p.numel() * p.element_size() for p in mod.parameters(recurse=False))
    return model.eval(), weight_bytes


def _time(model, history: int, tokens: int):
    import torch

    ids = torch.randint(20000, 130000, (1, history))
    ids = torch.cat([ids, torch.tensor([[130001, 130004]])], dim=1)
    model._seq_cache = [ids[0].tolist()]
    with torch.inference_mode():
        warm = ids[:, -34:]  # warm-up: first-call allocations and kernel selection
        model._seq_cache = [warm[0].tolist()]
        _, wpast, _ = model(warm, last_only=True)
        model._seq_cache = [warm[0].tolist() + [130004]]
        model(warm[:, -1:], wpast, last_only=True)
        model._seq_cache = [ids[0].tolist()]
        t0 = time.perf_counter()
        logits, past, _ = model(ids, last_only=True)
        ttft = time.perf_counter() - t0
        seq = ids
        t1 = time.perf_counter()
        for _ in range(tokens):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
            model._seq_cache = [seq[0].tolist()]
            logits, past, _ = model(nxt, past, last_only=True)
        per_token = (time.perf_counter() - t1) / tokens
    return ttft, per_token


def bench_shapes(variant: str, history: int = 300, tokens: int = 8) -> dict:
    from .dialogue import peak_rss_mb

    times = {}
    bytes_by = {}
    for layers in (1, 2):
        model, wb = _build(layers, variant)
        times[layers] = _time(model, history, tokens)
        bytes_by[layers] = wb
        del model
        gc.collect()
    full = SHAPES_6B["full_layers"]
    layer_ttft = times[2][0] - times[1][0]
    layer_tok = times[2][1] - times[1][1]
    per_layer_bytes = bytes_by[2]["layers"] - bytes_by[1]["layers"]
    ttft_full = times[1][0] + (full - 1) * layer_ttft
    tok_full = times[1][1] + (full - 1) * layer_tok
    return {
        "variant": variant,
        "history_tokens": history,
        "decode_tokens": tokens,
        "ttft_s": {"1_layer": times[1][0], "2_layers": times[2][0], "28_layers_scaled": ttft_full},
        "decode_s_per_token": {"1_layer": times[1][1], "2_layers": times[2][1], "28_layers_scaled": tok_full},
        "tokens_per_s_28_layers": 1.0 / tok_full if tok_full > 0 else None,
        "weights_gb_28_layers": (bytes_by[1]["other"] + full * per_layer_bytes) / 1e9,
        "peak_rss_mb_here": peak_rss_mb(),
    }

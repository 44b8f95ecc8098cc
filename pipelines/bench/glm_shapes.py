"""``bench dialogue --shapes 6b``: our ChatGLM-6B at its real layer shapes, 1 and 2 layers, scaled to 28.

Random weights made directly in the variant's dtype (fp32, bf16, int8 = per-channel dynamic
int8 Linear layers with fp32 activations, int4 = 4-bit weight groups on ONNX Runtime's MatMulNBits
with int8 activations (torch's int4pack with bf16 activations without onnxruntime); the quantised
variants quantise the output layer too, as the loader does).  For 1 and 2 layers it times the prefill
of a ``--history``-token prompt (time to first token) and greedy decoding with the KV cache; one
layer's cost is the difference, so a 28-layer figure is ``t(1) + 27 * (t(2) - t(1))``.
Memory: the process peak RSS here, and the weight bytes a 28-layer model would hold.

``bench_turns`` (``--shapes 6b2``): ChatGLM2/3-6B's shapes on ``GlmForCausalLM``, a conversation
of ``--turns`` turns after a ``--history``-token start: each turn's first-token time with the
kept KV cache (only the new tokens prefilled) and with the whole prompt recomputed.
"""

from __future__ import annotations

import gc
import time

#: the quantised variants and their ``dialogue.chatglm.quantize`` mode (int4-fp32: int4 with fp32 around it)
QUANTISED = {"int8": "int8", "int4": "int4", "int4-fp32": "int4", "int4+int8": "int4+int8"}

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
    from ..dialogue.quantize import Int4Linear, quantize_linear

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
    dtype = torch.bfloat16 if variant in ("bf16", "int4") else torch.float32
    g = torch.Generator().manual_seed(0)
    for mod_name, mod in list(model.named_modules()):
        for name, p in list(mod.named_parameters(recurse=False)):
            t = torch.empty(p.shape, dtype=dtype)
            if t.dim() > 1:
                t.normal_(0.0, 0.02, generator=g)
            else:
                t.fill_(1.0 if "layernorm" in mod_name and name == "weight" else 0.0)
            setattr(mod, name, torch.nn.Parameter(t, requires_grad=False))
        if variant in QUANTISED and (".layers." in mod_name or mod_name == "lm_head"):
            if type(mod) is torch.nn.Linear:  # as the loader: every Linear, the output layer too
                parent, _, attr = mod_name.rpartition(".")
                owner = model.get_submodule(parent) if parent else model
                setattr(owner, attr, quantize_linear(mod, QUANTISED[variant]))
    model._seq_cache = []
    weight_bytes = {"layers": 0, "other": 0}
    qlin = torch.ao.nn.quantized.dynamic.Linear
    for n, mod in model.named_modules():
        key = "layers" if ".layers." in n else "other"
        if isinstance(mod, Int4Linear):
            weight_bytes[key] += mod.weight_bytes() + (mod.bias.numel() * 4 if mod.bias is not None else 0)
        elif isinstance(mod, qlin):
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


# -- ChatGLM2/3-6B shapes on transformers' GlmForCausalLM: turns with the kept KV cache ----------
SHAPES_6B2 = {
    "padded_vocab_size": 65024,
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "multi_query_attention": True,
    "multi_query_group_num": 2,
    "kv_channels": 128,
    "ffn_hidden_size": 13696,
    "seq_length": 8192,
    "full_layers": 28,
}


def _build_glm2(layers: int, variant: str):
    import torch

    from ..dialogue.glm.folder import glm_config
    from ..dialogue.quantize import Int4Linear, quantize_linear

    tf = __import__("transformers")
    gcfg = glm_config({**SHAPES_6B2, "num_layers": layers})
    with torch.device("meta"):
        model = tf.GlmForCausalLM(gcfg)
    dtype = torch.bfloat16 if variant in ("bf16", "int4") else torch.float32
    g = torch.Generator().manual_seed(0)
    for mod_name, mod in list(model.named_modules()):
        for name, p in list(mod.named_parameters(recurse=False)):
            t = torch.empty(p.shape, dtype=dtype)
            if t.dim() > 1:
                t.normal_(0.0, 0.02, generator=g)
            else:
                t.fill_(1.0 if "norm" in mod_name else 0.0)
            setattr(mod, name, torch.nn.Parameter(t, requires_grad=False))
    model.model.rotary_emb = type(model.model.rotary_emb)(config=gcfg)
    if variant in QUANTISED:
        for mod_name, mod in list(model.named_modules()):
            if type(mod) is torch.nn.Linear:
                parent, _, attr = mod_name.rpartition(".")
                setattr(model.get_submodule(parent), attr, quantize_linear(mod, QUANTISED[variant]))
    weight_bytes = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    for mod in model.modules():
        if isinstance(mod, Int4Linear):  # its packed weights live in the kernel (ORT's session or torch's buffers)
            weight_bytes += mod.weight_bytes()
            if mod.prefill is not None:
                w = mod.prefill.weight()
                weight_bytes += w.numel() + w.shape[0] * 8
        elif isinstance(mod, torch.ao.nn.quantized.dynamic.Linear) and not _inside_int4(model, mod):
            w = mod.weight()
            weight_bytes += w.numel() + w.shape[0] * 8
    return model.eval(), weight_bytes


def _inside_int4(model, mod) -> bool:
    """Whether ``mod`` is the int8 prompt copy of an int4 layer (counted with that layer)."""
    from ..dialogue.quantize import Int4Linear

    return any(isinstance(m, Int4Linear) and m.prefill is mod for m in model.modules())


def _time_turns(model, history: int, turn_tokens: int, turns: int, tokens: int):
    """Per turn: first-token time with the kept cache (only the new tokens), and with the whole prompt recomputed."""
    import torch
    from transformers import DynamicCache

    g = torch.Generator().manual_seed(1)
    top = min(60000, model.config.vocab_size)
    ids = torch.randint(100, top, (1, history), generator=g)
    rows = []
    with torch.inference_mode():
        model(ids[:, :32], past_key_values=DynamicCache(config=model.config))  # warm-up
        cache = DynamicCache(config=model.config)
        model(ids[:, :-1], past_key_values=cache)  # the history so far, kept
        seen = ids
        for t in range(turns):
            new = torch.randint(100, top, (1, turn_tokens), generator=g)
            seen = torch.cat((seen, new), 1)
            todo = seen[:, cache.get_seq_length() :]
            warm = float("inf")
            for rep in range(2):  # the better of two (other processes share the cores)
                if rep:
                    cache.crop(-todo.shape[1])
                start = time.perf_counter()
                out = model(todo, past_key_values=cache, logits_to_keep=1)
                warm = min(warm, time.perf_counter() - start)
            start = time.perf_counter()
            model(seen, past_key_values=DynamicCache(config=model.config), logits_to_keep=1)
            cold = time.perf_counter() - start
            nxt = out.logits[:, -1:].argmax(-1)
            start = time.perf_counter()
            for _ in range(tokens):
                out = model(nxt, past_key_values=cache)
                nxt = out.logits[:, -1:].argmax(-1)
                seen = torch.cat((seen, nxt), 1)
            per_token = (time.perf_counter() - start) / tokens
            rows.append({"prompt_tokens": int(seen.shape[1]), "warm": warm, "cold": cold, "per_token": per_token})
    return rows


def bench_turns(variant: str, history: int = 300, turn_tokens: int = 40, turns: int = 4, tokens: int = 8) -> dict:
    """ChatGLM2/3-6B layer shapes, 1 and 3 layers scaled to 28: first token per turn, kept cache vs recomputed."""
    from .dialogue import peak_rss_mb

    runs, sizes = {}, {}
    lo, hi = 1, 3  # per layer: (t(3) - t(1)) / 2, less noise than t(2) - t(1)
    for layers in (lo, hi):
        model, sizes[layers] = _build_glm2(layers, variant)
        runs[layers] = _time_turns(model, history, turn_tokens, turns, tokens)
        del model
        gc.collect()
    full = SHAPES_6B2["full_layers"]

    def scaled(key, i):
        a, b = runs[lo][i][key], runs[hi][i][key]
        return a + (full - lo) * (b - a) / (hi - lo)

    per_turn = [
        {
            "turn": i + 1,
            "prompt_tokens": runs[lo][i]["prompt_tokens"],
            "first_token_s_kept_cache": scaled("warm", i),
            "first_token_s_recomputed": scaled("cold", i),
            "decode_s_per_token": scaled("per_token", i),
        }
        for i in range(turns)
    ]
    tok = sorted(r["decode_s_per_token"] for r in per_turn)[len(per_turn) // 2]
    return {
        "variant": variant,
        "shapes": "chatglm2/3-6b (GlmForCausalLM)",
        "history_tokens": history,
        "new_tokens_per_turn": turn_tokens,
        "per_turn": per_turn,
        "tokens_per_s_28_layers": 1.0 / tok if tok > 0 else None,
        "weights_gb_28_layers": (sizes[lo] + (full - lo) * (sizes[hi] - sizes[lo]) / (hi - lo)) / 1e9,
        "peak_rss_mb_here": peak_rss_mb(),
    }


def bench_interleaved(variants: list[str], rounds: int = 6, tokens: int = 8, history: int = 64) -> dict:
    """ChatGLM2/3-6B shapes: decoding speed of several variants measured in turns, in one process.

    This machine's memory bandwidth drifts by up to 2x within minutes (other tenants), so one
    variant timed after another compares two machines.  Here each round times every variant
    once (1 and 3 layers, ``tokens`` greedy steps each) and the figures are the median and the
    best round, scaled to 28 layers; ratios to the first variant are per round, then the median.
    """
    import statistics

    import torch
    from transformers import DynamicCache

    models = {(v, n): _build_glm2(n, v)[0] for v in variants for n in (1, 3)}
    g = torch.Generator().manual_seed(1)
    top = min(60000, SHAPES_6B2["padded_vocab_size"])
    ids = torch.randint(min(100, top // 2), top, (1, history), generator=g)
    caches = {}
    with torch.inference_mode():
        for key, model in models.items():
            caches[key] = DynamicCache(config=model.config)
            model(ids, past_key_values=caches[key])

        def decode(key) -> float:
            model, cache = models[key], caches[key]
            nxt = ids[:, -1:]
            start = time.perf_counter()
            for _ in range(tokens):
                nxt = model(nxt, past_key_values=cache).logits[:, -1:].argmax(-1)
            cache.crop(-tokens)
            return (time.perf_counter() - start) / tokens

        for key in models:
            decode(key)  # warm-up
        per_round: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(rounds):
            for v in variants:
                one, three = decode((v, 1)), decode((v, 3))
                layer = max(three - one, 0.0) / 2  # noise can make 3 layers look as quick as 1
                per_round[v].append(one + (SHAPES_6B2["full_layers"] - 1) * layer)
    first = variants[0]
    return {
        "shapes": "chatglm2/3-6b (GlmForCausalLM)",
        "rounds": rounds,
        "variants": {
            v: {
                "tokens_per_s_median": 1.0 / statistics.median(s),
                "tokens_per_s_best": 1.0 / min(s),
                "speedup_vs_" + first: statistics.median(a / b for a, b in zip(per_round[first], s, strict=True)),
            }
            for v, s in per_round.items()
        },
    }

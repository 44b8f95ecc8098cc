"""``python -m pipelines bench dialogue``: speed of the chatglm dialogue backend and of P-tuning.

For the configured model (``dialogue.chatglm.model_dir``; ``--tiny`` or no model
configured: the tiny random GLM built offline from the persona's chat log) and
each variant in ``--variants`` (``fp32``, ``bf16``, ``int8`` = fp32 + dynamic
int8 Linear layers, ``int4`` = bf16 + 4-bit weight groups) it runs ``--turns``
replies through the real stage and reports load time, time to first token,
decoding tokens/s (after the first token), tokens per reply, and memory (RSS
after the variant, process peak).  ``--conversation``: the turns are one
conversation (the history grows), run with the kept KV cache and without it,
so each turn's first-token time shows whether it grows with the history.
``--finetune-steps N`` also P-tunes the model for N steps on the persona's chat
log and reports steps/s.  Prints a table, or JSON with ``--json``.

``--backend openai --endpoint URL [--model NAME]`` instead measures an
OpenAI-compatible server through the real ``openai`` stage and the whole turn
(the configured voice and face): time to first token, tokens/s after it, and
time to first audio, so a server can be compared with the in-process model.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ..cli_settings import add_settings_arguments, settings_from_args

VARIANTS = {
    "fp32": ("fp32", "none"),
    "bf16": ("bf16", "none"),
    "int8": ("fp32", "int8"),
    "int4": ("bf16", "int4"),
    "int4-fp32": ("fp32", "int4"),  # int4 weights, every other tensor fp32 (the kernels' own activations)
    "int4+int8": ("fp32", "int4+int8"),
    "auto": ("auto", "none"),
}


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Resident memory now."""
    now = _status_mb("VmRSS")
    return now if now is not None else peak_rss_mb()


def peak_rss_mb() -> float:
    """The process's resident-memory high-water mark (at least the current RSS)."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return max(usage, _status_mb("VmHWM") or 0.0, _status_mb("VmRSS") or 0.0)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def bench_variant(settings, persona, variant: str, prompts: list[str], turns: int, conversation: bool = False) -> dict:
    from ..dialogue.chatglm_stage import ChatGLMDialogue
    from ..messages import UserTurn
    from ..stage import TurnContext

    dtype, quantize = VARIANTS[variant]
    s = settings.replace("dialogue.chatglm.dtype", dtype).replace("dialogue.chatglm.quantize", quantize)
    s = s.replace("dialogue.chatglm.quantize_int8", False)
    stage = ChatGLMDialogue.from_settings(s, persona)
    t = time.perf_counter()
    stage.load()
    load_s = time.perf_counter() - t
    rows = []
    try:
        stage.reset()  # one warm-up reply, not counted (first-call allocations)
        list(stage.process(UserTurn(0, prompts[0]), TurnContext(0)))
        stage.reset()
        for i in range(turns):
            if not conversation:
                stage.reset()
            ctx = TurnContext(i + 1)
            t = time.perf_counter()
            text = "".join(c.text for c in stage.process(UserTurn(i + 1, prompts[i % len(prompts)]), ctx))
            wall = time.perf_counter() - t
            st = stage.last_stats
            rows.append(
                {
                    "prompt_tokens": ctx.info.get("dialogue_prompt_tokens", st.prompt_tokens),
                    "reused_tokens": ctx.info.get("dialogue_reused_tokens", 0),
                    "new_tokens": st.new_tokens,
                    "first_token_s": st.time_to_first_token,
                    "tokens_per_s": st.tokens_per_second,
                    "wall_s": wall,
                    "chars": len(text),
                }
            )
        result = {
            "variant": variant,
            "kv_cache": bool(stage.kv is not None and stage.kv.enabled),
            "model": stage.loaded.describe(),
            "load_s": load_s,
            "turns": turns,
            "first_token_s": _median(r["first_token_s"] for r in rows),
            "tokens_per_s": _median(r["tokens_per_s"] for r in rows),
            "new_tokens": _median(r["new_tokens"] for r in rows),
            "prompt_tokens": _median(r["prompt_tokens"] for r in rows),
            "wall_s": _median(r["wall_s"] for r in rows),
            "rss_mb": rss_mb(),
            "peak_rss_mb": peak_rss_mb(),
            "per_turn": rows,
        }
    finally:
        stage.close()
    return result


def bench_finetune(base: Path, data: Path, steps: int, pre_seq_len: int, threads: int) -> dict:
    from ..dialogue.finetune import FinetuneConfig, finetune

    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        cfg = FinetuneConfig(
            data=str(data),
            base=str(base),
            out=str(Path(tmp) / "out"),
            pre_seq_len=pre_seq_len,
            steps=steps,
            batch_size=4,
            save_steps=max(steps, 1),
            threads=threads,
        )
        t = time.perf_counter()
        result = finetune(cfg, on_log=lambda text: None)
        wall = time.perf_counter() - t
    return {
        "steps": result.steps_done,
        "steps_per_s": result.steps_per_s,
        "batch_size": cfg.batch_size,
        "pre_seq_len": pre_seq_len,
        "wall_s_with_load": wall,
        "last_loss": result.last_loss,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_server(settings, persona, prompts: list[str], turns: int) -> dict:
    """``turns`` whole turns (after one warm-up) through the engine with the ``openai`` dialogue stage."""
    import shutil

    from ..dialogue.openai_stage import api_key_from_env, list_models
    from ..engine import Engine

    ds = settings.dialogue.openai
    models = list_models(ds.endpoint, api_key_from_env(ds.api_key_env), timeout_s=ds.connect_timeout_s + 5)
    out = tempfile.mkdtemp(prefix="bench-dialogue-server-")
    settings.output_dir = out
    rows = []
    engine = Engine(settings, log_path=Path(out) / "log.jsonl").start()
    try:
        stage = engine.stages["dialogue"]
        for i in range(turns + 1):
            engine.clear()  # each reply without history: the same prompt length every time
            rec = engine.wait(engine.submit(prompts[i % len(prompts)]), timeout=600)
            if rec.status != "ok":
                raise RuntimeError(rec.error or rec.status)
            st = stage.last_stats
            if i == 0:
                continue  # warm-up (the server may load the model on its first request)
            rows.append(
                {
                    "first_token_s": st.time_to_first_token,
                    "tokens_per_s": st.tokens_per_second,
                    "tokens": st.tokens,
                    "first_audio_s": rec.first_audio_s,
                    "wall_s": rec.wall_s,
                    "chars": len(rec.reply),
                    "model": st.model,
                }
            )
    finally:
        engine.close()
        shutil.rmtree(out, ignore_errors=True)
    return {
        "backend": "openai",
        "endpoint": ds.endpoint,
        "models_listed": models,
        "model": rows[-1]["model"] if rows else ds.model,
        "turns": turns,
        "max_new_tokens": ds.max_new_tokens,
        "first_token_s": _median(r["first_token_s"] for r in rows),
        "tokens_per_s": _median(r["tokens_per_s"] for r in rows),
        "tokens": _median(r["tokens"] for r in rows),
        "first_audio_s": _median(r["first_audio_s"] for r in rows),
        "wall_s": _median(r["wall_s"] for r in rows),
        "per_turn": rows,
    }


def print_server_table(r: dict) -> None:
    print(f"dialogue bench: {r['model']} at {r['endpoint']} ({r['turns']} turns, max_new_tokens {r['max_new_tokens']})")
    print(
        f"first token {_fmt(r['first_token_s'], 4)} s, {_fmt(r['tokens_per_s'], 1)} tokens/s, "
        f"{_fmt(r['tokens'])} tokens per reply, first audio {_fmt(r['first_audio_s'], 3)} s, "
        f"turn {_fmt(r['wall_s'], 3)} s"
    )


def _fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if not v.is_integer() or digits != 3 else str(int(v))
    return str(v)


def print_turns_table(rows: list[dict], threads) -> None:
    for r in rows:
        print(
            f"{r['variant']}: {r['shapes']} scaled to 28 layers, threads {threads or 'default'}, "
            f"{_fmt(r['tokens_per_s_28_layers'], 2)} tokens/s, weights {r['weights_gb_28_layers']:.1f} GB"
        )
        print(f"  {'turn':>4}{'prompt':>8}{'1st tok kept cache s':>22}{'1st tok recomputed s':>22}")
        for t in r["per_turn"]:
            print(
                f"  {t['turn']:>4}{t['prompt_tokens']:>8}{t['first_token_s_kept_cache']:>22.2f}"
                f"{t['first_token_s_recomputed']:>22.2f}"
            )


def print_table(report: dict) -> None:
    print(
        f"dialogue bench: {report['model_dir']} ({report['turns']} turns, max_new_tokens "
        f"{report['max_new_tokens']}, threads {report['threads'] or 'default'})"
    )
    head = f"{'variant':<8}{'load s':>9}{'1st tok s':>11}{'tok/s':>9}{'tokens':>8}{'reply s':>9}{'RSS MB':>9}{'peak MB':>9}"
    print(head)
    print("-" * len(head))
    base = None
    for r in report["variants"]:
        if report.get("conversation"):
            turns = ", ".join(
                f"{_fmt(t['first_token_s'], 3)} s ({t['prompt_tokens']} tok, {t['reused_tokens']} kept)"
                for t in r["per_turn"]
            )
            print(f"{r['variant']} kv_cache={'on' if r['kv_cache'] else 'off'}: first token per turn: {turns}")
        print(
            f"{r['variant']:<8}{_fmt(r['load_s'], 2):>9}{_fmt(r['first_token_s'], 4):>11}"
            f"{_fmt(r['tokens_per_s'], 1):>9}{_fmt(r['new_tokens']):>8}{_fmt(r['wall_s'], 3):>9}"
            f"{_fmt(r['rss_mb'], 0):>9}{_fmt(r['peak_rss_mb'], 0):>9}"
        )
        base = base or r
    if len(report["variants"]) > 1 and base.get("tokens_per_s"):
        ratios = ", ".join(
            f"{r['variant']} {r['tokens_per_s'] / base['tokens_per_s']:.2f}x"
            for r in report["variants"][1:]
            if r.get("tokens_per_s")
        )
        print(f"tokens/s relative to {base['variant']}: {ratios}")
    ft = report.get("finetune")
    if ft:
        print(
            f"fine-tuning: {ft['steps']} steps at {ft['steps_per_s']:.2f} steps/s "
            f"(batch {ft['batch_size']}, pre_seq_len {ft['pre_seq_len']}), peak RSS {ft['peak_rss_mb']:.0f} MB"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines bench dialogue", description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="use the tiny random GLM built offline")
    parser.add_argument(
        "--variants", default="fp32", help="comma list of fp32, bf16, int8, int4, int4-fp32, int4+int8, auto"
    )
    parser.add_argument(
        "--conversation",
        action="store_true",
        help="the turns are one conversation; each variant runs with the kept KV cache and without it",
    )
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64, help="max new tokens per reply")
    parser.add_argument("--finetune-steps", type=int, default=0, help="also P-tune N steps and report steps/s")
    parser.add_argument("--pre-seq-len", type=int, default=16, help="prefix length for --finetune-steps")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--backend",
        choices=("chatglm", "openai"),
        default="chatglm",
        help="openai: measure an OpenAI-compatible server (with --endpoint, --model)",
    )
    parser.add_argument("--endpoint", help="openai: server base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument(
        "--model", help="openai: model name on the server (default: dialogue.openai.model, else the first listed)"
    )
    parser.add_argument(
        "--shapes",
        choices=["6b", "6b2"],
        help="time ChatGLM-6B's (6b) or ChatGLM2/3-6B's (6b2: --turns turns with the kept KV cache) real "
        "layer shapes (1-2 layers, scaled to 28) instead of a model folder; see pipelines/bench/glm_shapes.py",
    )
    parser.add_argument("--history", type=int, default=300, help="prompt tokens for --shapes")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="with --shapes 6b2: time the variants' decoding in alternating rounds in one process "
        "(ratios that hold while the machine's speed drifts)",
    )
    parser.add_argument(
        "--kernels",
        action="store_true",
        help="time the CPU weight-only matmul kernels on the 6B Linear shapes (pipelines/bench/glm_kernels.py)",
    )
    add_settings_arguments(parser)
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2

    if args.kernels:
        from .glm_kernels import bench_kernels

        threads = settings_from_args(args).threads
        if threads:
            import torch

            torch.set_num_threads(threads)
        report = bench_kernels()
        if args.json:
            print(json.dumps(report))
        else:
            print(
                f"threads {report['threads']}, 1 GiB copy {report['copy_gb_s']:.1f} GB/s; ms per call (GB/s of weights)"
            )
            for shape, rows in report["shapes"].items():
                for label, kernels in rows.items():
                    cells = ", ".join(f"{k} {v['ms']:.1f} ({v['gb_s']:.1f})" for k, v in kernels.items())
                    print(f"{shape:<24}{label:>8}: {cells}")
        return 0

    if args.shapes:
        from .glm_shapes import bench_shapes, bench_turns

        if "auto" in variants:
            print("--shapes times fp32, bf16, int8, int4, int4-fp32 or int4+int8", file=sys.stderr)
            return 2
        threads = settings_from_args(args).threads
        if threads:
            import torch

            torch.set_num_threads(threads)
        if args.shapes == "6b2" and args.interleave:
            from .glm_shapes import bench_interleaved

            report = bench_interleaved(variants, rounds=max(2, args.turns), tokens=args.tokens)
            if args.json:
                print(json.dumps(report))
            else:
                for v, r in report["variants"].items():
                    ratio = next(val for k, val in r.items() if k.startswith("speedup"))
                    print(
                        f"{v:10s} decode {r['tokens_per_s_median']:.2f} tok/s median, {r['tokens_per_s_best']:.2f} best "
                        f"of {report['rounds']} rounds; {ratio:.2f}x {variants[0]} (median of per-round ratios)"
                    )
            return 0
        if args.shapes == "6b2":
            rows = [bench_turns(v, history=args.history, turns=args.turns, tokens=args.tokens) for v in variants]
            if args.json:
                print(json.dumps({"shapes": args.shapes, "threads": threads, "variants": rows}))
            else:
                print_turns_table(rows, threads)
            return 0
        rows = [bench_shapes(v, history=args.history, tokens=args.tokens) for v in variants]
        if args.json:
            print(json.dumps({"shapes": args.shapes, "threads": threads, "variants": rows}))
        else:
            for r in rows:
                tps = r["tokens_per_s_28_layers"]
                print(
                    f"{r['variant']:5s} 28-layer scaled: {_fmt(tps)} tokens/s, first token "
                    f"after {r['history_tokens']} tokens {r['ttft_s']['28_layers_scaled']:.2f} s, weights "
                    f"{r['weights_gb_28_layers']:.1f} GB; peak RSS here {r['peak_rss_mb_here']:.0f} MB"
                )
        return 0

    from ..persona import Persona

    settings = settings_from_args(args)
    persona = Persona.load(settings.persona_dir)
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    if args.backend == "openai":
        from ..dialogue.openai_stage import ServerError

        settings = settings.replace("dialogue.backend", "openai").replace("dialogue.openai.max_new_tokens", args.tokens)
        settings = settings.replace("dialogue.openai.temperature", 0.0)
        for key, value in (("endpoint", args.endpoint), ("model", args.model)):
            if value:
                settings = settings.replace(f"dialogue.{key}", value)
        try:
            report = bench_server(settings, persona, ["你好，介绍一下你自己", "What can you do?"], args.turns)
        except (ServerError, RuntimeError) as exc:
            print(f"bench dialogue: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            print_server_table(report)
        return 0
    settings = settings.replace("dialogue.backend", "chatglm").replace("dialogue.chatglm.max_new_tokens", args.tokens)
    settings = settings.replace("dialogue.chatglm.temperature", 0.0)
    tmp = None
    if args.tiny or not settings.dialogue.chatglm.model_dir:
        from ..dialogue.tiny_model import build_tiny_glm, chat_log_texts

        if persona.chat_log is None:
            print("the persona has no chat log to build the tiny model's tokenizer from", file=sys.stderr)
            return 2
        tmp = tempfile.TemporaryDirectory(prefix="bench-dialogue-")
        model_dir = build_tiny_glm(Path(tmp.name) / "tiny-glm", chat_log_texts(persona.chat_log))
        settings = settings.replace("dialogue.chatglm.model_dir", str(model_dir)).replace(
            "dialogue.chatglm.ptuning_dir", ""
        )
    prompts = ["你好，介绍一下你自己", "What can you do?", "今天天气怎么样？", "Tell me a joke"]
    try:
        report = {
            "model_dir": settings.dialogue.chatglm.model_dir,
            "turns": args.turns,
            "max_new_tokens": args.tokens,
            "threads": settings.threads,
            "device": settings.resolved_device(),
            "conversation": args.conversation,
            "variants": [],
        }
        for v in variants:
            if args.conversation:
                for kv in (True, False):
                    run = bench_variant(
                        settings.replace("dialogue.chatglm.kv_cache", kv),
                        persona,
                        v,
                        prompts,
                        args.turns,
                        conversation=True,
                    )
                    report["variants"].append(run)
            else:
                report["variants"].append(bench_variant(settings, persona, v, prompts, args.turns))
        if args.finetune_steps > 0:
            data = persona.chat_log
            report["finetune"] = bench_finetune(
                settings.resolve(settings.dialogue.chatglm.model_dir),
                data,
                args.finetune_steps,
                args.pre_seq_len,
                settings.threads,
            )
    finally:
        if tmp is not None:
            tmp.cleanup()
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_table(report)
    return 0

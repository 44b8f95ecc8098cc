"""``python -m pipelines finetune``: P-tune a dialogue model on JSON chat logs.

Example::

    python -m pipelines finetune --data source/default/chat.jsonl \\
        --base module/chatglm-6b --out module/ptuning/lin --pre-seq-len 128 --steps 3000

Then set ``dialogue.backend=chatglm``, ``dialogue.chatglm.model_dir`` to the base and
``dialogue.chatglm.ptuning_dir`` to the ``--out`` folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .chat_data import ChatDataError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines finetune", description="P-tuning v2 of a ChatGLM / GLM model on JSON chat logs"
    )
    p.add_argument("--data", required=True, help="chat log: JSON lines or a JSON array (prompt, response, history)")
    p.add_argument("--base", required=True, help="local base model folder (e.g. module/chatglm-6b)")
    p.add_argument("--out", required=True, help="output folder (e.g. module/ptuning/<name>)")
    p.add_argument(
        "--method",
        default="ptuning",
        choices=("ptuning", "lora"),
        help="ptuning: P-tuning v2 prefix (THUDM's, for the chatglm backend); lora: a peft LoRA "
        "adapter folder that vLLM / llama.cpp serve (transformers-native models)",
    )
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank")
    p.add_argument("--lora-alpha", type=int, default=16, help="LoRA scaling numerator")
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--lora-targets", default="", help="comma-separated Linear names (default: attention projections)")
    p.add_argument("--pre-seq-len", type=int, default=128, help="virtual prefix tokens (THUDM default 128)")
    p.add_argument("--prefix-projection", action="store_true", help="train the prefix through a 2-layer MLP")
    p.add_argument("--projection-hidden", type=int, default=0, help="MLP width with --prefix-projection (0: model's)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, default=0, help="optimizer steps (overrides --epochs)")
    group.add_argument("--epochs", type=float, default=3.0, help="passes over the training data")
    p.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: 2e-2 for P-tuning as THUDM, 2e-4 for LoRA)"
    )
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--max-source-length", type=int, default=256, help="prompt tokens kept (history included)")
    p.add_argument("--max-target-length", type=int, default=128, help="reply tokens kept")
    p.add_argument("--eval-split", type=float, default=0.0, help="fraction of examples held out for eval loss")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--save-steps", type=int, default=100, help="checkpoint every N steps")
    p.add_argument("--keep-checkpoints", type=int, default=2, help="newest checkpoints kept (best/ always kept)")
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--prompt-column", default="prompt")
    p.add_argument("--response-column", default="response")
    p.add_argument("--history-column", default="history", help="'' to ignore history")
    p.add_argument("--system", default="", help="system prompt used in training (and then at inference)")
    p.add_argument("--prompt-format", default="auto", choices=("auto", "chatglm", "chatglm2", "template", "plain"))
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the base folder's own modeling code (THUDM ChatGLM folders)",
    )
    p.add_argument("--check-data", action="store_true", help="only report on the chat log, do not train")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    return p


def _fmt_time(seconds: float) -> str:
    if seconds == float("inf") or seconds != seconds:
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    def __init__(self, stream=sys.stderr, width: int = 28) -> None:
        self.stream = stream
        self.width = width
        self.last = 0.0

    def __call__(self, p) -> None:
        now = time.monotonic()
        if p.step != p.total_steps and now - self.last < 0.2:
            return
        self.last = now
        done = int(self.width * p.step / max(1, p.total_steps))
        bar = "#" * done + "." * (self.width - done)
        line = (
            f"\r[{bar}] {p.step}/{p.total_steps} loss {p.loss:.4f} lr {p.lr:.2e} "
            f"{p.steps_per_s:.2f} step/s elapsed {_fmt_time(p.elapsed_s)} ETA {_fmt_time(p.eta_s)}"
        )
        end = "\n" if p.step == p.total_steps else ""
        if self.stream.isatty():
            self.stream.write(line + end)
        elif end or p.step % 10 == 0:
            self.stream.write(line.lstrip("\r") + "\n")
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .chat_data import load_chat_log

    if args.check_data:
        try:
            _, report = load_chat_log(args.data, args.prompt_column, args.response_column, args.history_column)
        except ChatDataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(report.summary(max_problems=1000))
        return 0 if report.skipped == 0 else 1

    from .finetune import FinetuneConfig, FinetuneError, finetune
    from .model_loader import ModelLoadError

    cfg = FinetuneConfig(
        data=args.data,
        base=args.base,
        out=args.out,
        pre_seq_len=args.pre_seq_len,
        prefix_projection=args.prefix_projection,
        projection_hidden=args.projection_hidden,
        steps=args.steps or 0,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr if args.lr is not None else (2e-4 if args.method == "lora" else 2e-2),
        method=args.method,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_targets=args.lora_targets,
        grad_accum=args.grad_accum,
        max_source_length=args.max_source_length,
        max_target_length=args.max_target_length,
        eval_split=args.eval_split,
        seed=args.seed,
        save_steps=args.save_steps,
        keep_checkpoints=args.keep_checkpoints,
        warmup_steps=args.warmup_steps,
        resume=args.resume,
        prompt_column=args.prompt_column,
        response_column=args.response_column,
        history_column=args.history_column,
        system_prompt=args.system,
        prompt_format=args.prompt_format,
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        trust_remote_code=args.trust_remote_code,
    )
    try:
        result = finetune(cfg, on_progress=ProgressBar(), on_log=lambda text: print(text, file=sys.stderr))
    except (ChatDataError, FinetuneError, ModelLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; continue with --resume (from the last checkpoint)", file=sys.stderr)
        return 130
    summary = {
        "out": str(result.out_dir),
        "steps": result.steps_done,
        "total_steps": result.total_steps,
        "resumed_from": result.start_step,
        "cancelled": result.cancelled,
        "best_step": result.best_step,
        "best_metric": result.best_metric,
        "last_loss": result.last_loss,
        "eval_loss": result.eval_loss,
        "steps_per_s": round(result.steps_per_s, 3),
        "kept": result.report.kept,
        "skipped": result.report.skipped,
        "loss_png": str(result.loss_png) if result.loss_png else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"done: {result.steps_done}/{result.total_steps} steps, {result.steps_per_s:.2f} step/s, "
            f"last loss {result.last_loss}, best step {result.best_step}; adapter in {result.out_dir} "
            f"(set dialogue.chatglm.ptuning_dir to it); loss plot {result.loss_png}"
        )
    return 0

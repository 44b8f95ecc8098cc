"""P-tuning v2 of a dialogue model on JSON chat logs (used by the CLI and the GUI).

``finetune(config, on_progress=..., on_log=..., should_stop=...)`` trains only a
prefix (``pre_seq_len`` virtual tokens of keys and values in every layer) on
top of a frozen base model:

- transformers-native models (GLM, GLM-4, any causal LM): peft
  ``PrefixTuningConfig`` (``prefix_projection`` optional);
- original THUDM ChatGLM folders (remote code): the model's own
  ``transformer.prefix_encoder``, built with ``pre_seq_len`` in its config,
  saved in THUDM's key layout.

Labels are masked on the prompt; train loss every step, eval loss (with
``eval_split``) at every checkpoint; checkpoints every ``save_steps`` written
atomically, the best kept in ``best/`` and published to the output folder
itself at the end, so ``dialogue.chatglm.ptuning_dir`` can point straight at it.
``resume`` continues from the newest checkpoint, on exactly the batches the
interrupted run would have used.  ``should_stop`` (cancel) saves a checkpoint
and returns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..atomic_files import remove_stale
from ..optional import require
from . import finetune_checkpoints as ck
from .chat_data import ChatDataReport, load_chat_log
from .finetune_data import BatchPlan, collate, encode_examples, split_eval
from .loss_log import LossLog
from .prompt_format import FORMATS, PromptFormat, detect_format
from .ptuning_checkpoint import quiet_peft

log = logging.getLogger(__name__)


class FinetuneError(ValueError):
    pass


METHODS = ("ptuning", "lora")
#: attention projections LoRA adapts by default: the names vLLM and llama.cpp map for these families
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "query_key_value", "c_attn", "qkv_proj")


@dataclass
class FinetuneConfig:
    data: str
    base: str
    out: str
    pre_seq_len: int = 128
    prefix_projection: bool = False
    projection_hidden: int = 0  # MLP width with prefix_projection (0: the model's hidden size)
    steps: int = 0  # optimizer steps (0: from epochs)
    epochs: float = 3.0
    lr: float = 2e-2
    batch_size: int = 4
    grad_accum: int = 1
    max_source_length: int = 256
    max_target_length: int = 128
    eval_split: float = 0.0
    seed: int = 42
    save_steps: int = 100
    keep_checkpoints: int = 2
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    resume: bool = False
    prompt_column: str = "prompt"
    response_column: str = "response"
    history_column: str = "history"
    system_prompt: str = ""
    prompt_format: str = "auto"
    device: str = "auto"
    dtype: str = "fp32"
    threads: int = 0
    trust_remote_code: bool = False
    method: str = "ptuning"  # "ptuning" (P-tuning v2 prefix) or "lora" (a peft LoRA adapter)
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: str = ""  # comma-separated module names (empty: the attention projections)

    def validate(self) -> None:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.method == "lora" and (self.lora_r < 1 or self.lora_alpha < 1):
            problems.append(f"lora_r and lora_alpha must be at least 1, got {self.lora_r} and {self.lora_alpha}")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        for name in (
            "pre_seq_len",
            "batch_size",
            "grad_accum",
            "max_source_length",
            "max_target_length",
            "save_steps",
            "keep_checkpoints",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.steps < 0:
            problems.append(f"steps must be >= 0, got {self.steps}")
        if self.steps == 0 and self.epochs <= 0:
            problems.append("give steps > 0 or epochs > 0")
        if not 0 <= self.eval_split < 1:
            problems.append(f"eval_split must be a fraction in [0, 1), got {self.eval_split}")
        if self.lr <= 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if self.prompt_format not in ("auto",) + FORMATS:
            problems.append(f"prompt_format must be auto or one of {', '.join(FORMATS)}, got {self.prompt_format!r}")
        if self.dtype not in ("fp32", "bf16"):
            problems.append(f"dtype must be fp32 or bf16 for training, got {self.dtype!r}")
        if problems:
            raise FinetuneError("invalid fine-tuning options:\n  " + "\n  ".join(problems))


@dataclass
class Progress:
    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: float
    elapsed_s: float
    steps_per_s: float
    eta_s: float


@dataclass
class FinetuneResult:
    out_dir: Path
    steps_done: int
    total_steps: int
    start_step: int
    cancelled: bool
    best_step: int | None
    best_metric: float | None
    last_loss: float | None
    eval_loss: float | None
    steps_per_s: float
    report: ChatDataReport
    loss_png: Path | None = None
    checkpoints: list[Path] = field(default_factory=list)


def _stop_check(should_stop: Any) -> Callable[[], bool]:
    if should_stop is None:
        return lambda: False
    if hasattr(should_stop, "is_set"):
        return should_stop.is_set
    return should_stop


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _attach_lora(cfg: FinetuneConfig, device: str, dtype):
    """(adapter, tokenizer, config dict, remote) with fresh LoRA matrices on a frozen base.

    The adapter folder is peft's (``adapter_config.json`` + ``adapter_model.safetensors``), the
    layout vLLM (``--enable-lora --lora-modules persona=<folder>``) and llama.cpp's
    ``convert_lora_to_gguf.py`` read, for transformers-native models (GLM-4 ``-hf``, Qwen, Llama, …).
    """
    from .glm import folder as glm_folder
    from .model_loader import load_base, read_model_config

    folder = Path(cfg.base)
    config = read_model_config(folder)
    gen = glm_folder.generation(config, folder)
    if gen == "chatglm6b":
        raise FinetuneError(
            f"{folder}: LoRA needs a transformers-native model; ChatGLM-6B (v1) has no "
            f"server that loads LoRA for it: use --method ptuning, or a GLM-4 / Qwen folder"
        )
    if gen is not None:
        try:
            tokenizer = glm_folder.load_tokenizer(folder, gen, config)
            model = glm_folder.load_chatglm2(folder, config, dtype)
        except glm_folder.FolderError as exc:
            raise FinetuneError(f"{folder}: {exc}") from exc
        model.to(device)
    else:
        model, tokenizer, config, remote = load_base(
            folder, device=device, dtype=dtype, trust_remote_code=cfg.trust_remote_code
        )
        if remote:
            raise FinetuneError(
                f"{folder}: LoRA is trained on transformers-native models only; this folder "
                f"needs its own code (use --method ptuning)"
            )
    import torch

    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    wanted = [t.strip() for t in cfg.lora_targets.split(",") if t.strip()] or [t for t in LORA_TARGETS if t in names]
    missing = [t for t in wanted if t not in names]
    if not wanted or missing:
        raise FinetuneError(
            f"{folder}: no Linear layers named {', '.join(missing or LORA_TARGETS)} to adapt; "
            f"give --lora-targets from: {', '.join(sorted(names)[:12])}"
        )
    peft = require("peft", purpose="LoRA fine-tuning")
    lcfg = peft.LoraConfig(
        task_type=peft.TaskType.CAUSAL_LM,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=wanted,
    )
    with quiet_peft():
        pm = peft.get_peft_model(model, lcfg)
    return ck.PrefixAdapter(pm, "peft"), tokenizer, config, False


def _attach_prefix(cfg: FinetuneConfig, device: str, dtype):
    """(adapter, tokenizer, config dict, remote) with a fresh trainable prefix on a frozen base."""
    from .glm import folder as glm_folder
    from .model_loader import load_base, needs_remote_code, read_model_config

    if cfg.method == "lora":
        return _attach_lora(cfg, device, dtype)
    folder = Path(cfg.base)
    config = read_model_config(folder)
    gen = glm_folder.generation(config, folder)
    if gen is not None:  # THUDM ChatGLM folders: our own code, never theirs
        try:
            tokenizer = glm_folder.load_tokenizer(folder, gen, config)
            if gen == "chatglm6b":
                model = glm_folder.load_chatglm6b(
                    folder, config, dtype, pre_seq_len=cfg.pre_seq_len, prefix_projection=cfg.prefix_projection
                )
            else:
                model = glm_folder.load_chatglm2(folder, config, dtype)
        except glm_folder.FolderError as exc:
            raise FinetuneError(f"{folder}: {exc}") from exc
        model.to(device)
        if gen == "chatglm6b":
            for name, p in model.named_parameters():
                p.requires_grad_(name.startswith("transformer.prefix_encoder."))
            return ck.PrefixAdapter(model, "thudm", base_config=config), tokenizer, config, False
    remote = False if gen is not None else needs_remote_code(config)
    overrides = {"pre_seq_len": cfg.pre_seq_len, "prefix_projection": cfg.prefix_projection} if remote else None
    if gen is None:
        model, tokenizer, config, remote = load_base(
            folder, device=device, dtype=dtype, trust_remote_code=cfg.trust_remote_code, config_overrides=overrides
        )
    if remote:
        if getattr(getattr(model, "transformer", None), "prefix_encoder", None) is None:
            raise FinetuneError(
                f"{folder}: this remote-code model has no transformer.prefix_encoder with "
                f"pre_seq_len set; only THUDM ChatGLM folders support P-tuning this way"
            )
        for name, p in model.named_parameters():
            p.requires_grad_("prefix_encoder" in name)
        model.transformer.prefix_encoder.float()
        return ck.PrefixAdapter(model, "thudm", base_config=config), tokenizer, config, remote
    peft = require("peft", purpose="P-tuning")
    kwargs = {}
    if cfg.prefix_projection:
        kwargs["encoder_hidden_size"] = cfg.projection_hidden or model.config.hidden_size
    pcfg = peft.PrefixTuningConfig(
        task_type=peft.TaskType.CAUSAL_LM,
        num_virtual_tokens=cfg.pre_seq_len,
        prefix_projection=cfg.prefix_projection,
        **kwargs,
    )
    with quiet_peft():
        pm = peft.get_peft_model(model, pcfg)
    pm.prompt_encoder["default"].float()
    if gen is not None:  # THUDM ChatGLM2/3: positions start at 0 after the prefix, as in THUDM's code
        glm_folder.positions_from_zero(pm, cfg.pre_seq_len)
    return ck.PrefixAdapter(pm, "peft", base_config=config if gen else None), tokenizer, config, remote


def _eos_id(model, tokenizer) -> int:
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(eos, (list, tuple)):
        eos = eos[0] if eos else None
    if eos is None:
        raise FinetuneError("the tokenizer has no end-of-text token; cannot mark where replies end")
    return int(eos)


def finetune(
    cfg: FinetuneConfig,
    on_progress: Callable[[Progress], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    should_stop: Any = None,
    on_loss: Callable[[dict], None] | None = None,
) -> FinetuneResult:
    """Run (or resume) P-tuning; see the module docstring.  Callbacks run in the caller's thread."""
    cfg.validate()
    from ..output_paths import OutputPathError, check_out_folder

    try:
        check_out_folder(cfg.out, "--out")
    except OutputPathError as exc:
        raise FinetuneError(str(exc)) from None
    torch = require("torch", purpose="fine-tuning")
    say = on_log or (lambda text: log.info("%s", text))
    stop = _stop_check(should_stop)
    out = Path(cfg.out)
    data_path = Path(cfg.data)

    # -- data first: a bad file fails before any model is loaded ------------
    examples, report = load_chat_log(data_path, cfg.prompt_column, cfg.response_column, cfg.history_column)
    say(report.summary())

    # -- where we start --------------------------------------------------------
    remove_stale(out, (".checkpoint-*.new-*", ".checkpoint-*.old-*", ".best.new-*", ".best.old-*"))
    existing = ck.list_checkpoints(out)
    resume_from = None
    if existing and not cfg.resume:
        raise FinetuneError(
            f"{out} already holds a training run (checkpoint-{ck.checkpoint_step(existing[-1])}); "
            f"pass --resume to continue it, or choose another --out"
        )
    if cfg.resume:
        if existing:
            resume_from = existing[-1]
        else:
            say(f"--resume: no checkpoint in {out} yet, starting from step 0")

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float32 if cfg.dtype == "fp32" else torch.bfloat16
    torch.manual_seed(cfg.seed)
    adapter, tokenizer, model_config, remote = _attach_prefix(cfg, device, dtype)
    model = adapter.model
    kind = cfg.prompt_format if cfg.prompt_format != "auto" else detect_format(model_config, tokenizer)
    fmt = PromptFormat(kind, tokenizer, cfg.system_prompt if kind in ("template", "plain", "chatglm3") else "")
    eos = _eos_id(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    encoded = encode_examples(examples, tokenizer, fmt, eos, cfg.max_source_length, cfg.max_target_length)
    train_idx, eval_idx = split_eval(len(encoded), cfg.eval_split, cfg.seed)
    plan = BatchPlan(train_idx, cfg.batch_size, cfg.seed)
    steps_per_epoch = max(1, math.ceil(plan.per_epoch / cfg.grad_accum))
    total = cfg.steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    say(
        f"training {len(train_idx)} example(s), eval {len(eval_idx)}; {total} step(s) "
        f"({steps_per_epoch} per epoch, batch {cfg.batch_size} x accum {cfg.grad_accum}); "
        + (
            f"LoRA r={cfg.lora_r} alpha={cfg.lora_alpha}, "
            if cfg.method == "lora"
            else f"prefix {cfg.pre_seq_len} tokens{' with projection' if cfg.prefix_projection else ''}, "
        )
        + f"{sum(p.numel() for p in adapter.named_trainable().values())} trainable parameters; "
        f"prompt format {kind}; device {device}"
    )

    params = list(adapter.named_trainable().values())
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)

    def lr_factor(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        return max(0.0, (total - step) / max(1, total - cfg.warmup_steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)

    meta = {
        "base": str(Path(cfg.base).resolve()),
        "data": str(data_path.resolve()),
        "data_sha256_16": _fingerprint(data_path),
        "prompt_format": kind,
        "system_prompt": fmt.system_prompt,
        "pre_seq_len": cfg.pre_seq_len,
        "prefix_projection": cfg.prefix_projection,
        "method": cfg.method,
        "adapter": adapter.kind,
        "config": dataclasses.asdict(cfg),
        "data_report": report.to_dict(),
    }
    step = 0
    best_step, best_metric = None, None
    loss_log = LossLog(out / "loss.jsonl")
    if resume_from is not None:
        trainable, opt_state, tstate = ck.read_checkpoint(resume_from)
        for key in ("pre_seq_len", "prefix_projection", "method"):
            if tstate.get("meta", {}).get(key, "ptuning" if key == "method" else None) != meta[key]:
                raise FinetuneError(
                    f"cannot resume {resume_from}: it was trained with {key}="
                    f"{tstate.get('meta', {}).get(key)}, this run has {meta[key]}"
                )
        if tstate.get("meta", {}).get("data_sha256_16") != meta["data_sha256_16"]:
            say("warning: the chat log changed since the checkpoint; the batch order continues by position")
        adapter.load_trainable_state(trainable)
        optimizer.load_state_dict(opt_state["optimizer"])
        scheduler.load_state_dict(opt_state["scheduler"])
        step = int(tstate["step"])
        best_step, best_metric = tstate.get("best_step"), tstate.get("best_metric")
        if tstate.get("total_steps") and not cfg.steps:
            total = int(tstate["total_steps"])
        loss_log.load(up_to_step=step)
        say(f"resumed from {resume_from.name} at step {step}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        loss_log.load(up_to_step=0)
    start_step = step

    def evaluate() -> float | None:
        if not eval_idx:
            return None
        model.eval()
        total_loss, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(eval_idx), cfg.batch_size):
                ids, mask, labels = collate([encoded[j] for j in eval_idx[i : i + cfg.batch_size]], pad)
                out_ = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
                n = len(eval_idx[i : i + cfg.batch_size])
                total_loss += out_.loss.item() * n
                count += n
        model.train()
        return total_loss / max(1, count)

    window: list[float] = []  # train losses since the last checkpoint (best metric without eval data)
    last_loss = None
    last_eval = None
    checkpoints: list[Path] = []

    def save(step_: int) -> Path:
        nonlocal best_step, best_metric, last_eval
        last_eval = evaluate()
        metric = last_eval if last_eval is not None else (sum(window) / len(window) if window else None)
        is_best = metric is not None and (best_metric is None or metric < best_metric)
        if is_best:
            best_step, best_metric = step_, metric
        if last_eval is not None:
            rec = {"step": step_, "eval_loss": last_eval}
            loss_log.append(rec)
            if on_loss:
                on_loss(rec)
        tstate = {"step": step_, "total_steps": total, "best_step": best_step, "best_metric": best_metric, "meta": meta}
        path = ck.write_checkpoint(
            out, step_, adapter, optimizer, scheduler, tstate, {**meta, "step": step_, "metric": metric}
        )
        if is_best or not (out / "best").is_dir():
            ck.keep_best(out, path)
        ck.prune(out, cfg.keep_checkpoints)
        checkpoints.append(path)
        window.clear()
        try:
            loss_log.plot(out / "loss.png")
        except Exception as exc:  # a plot must never cost the checkpoint
            say(f"warning: could not draw the loss plot: {exc}")
        return path

    model.train()
    started = time.perf_counter()
    cancelled = False
    last_saved = step
    while step < total:
        if stop():
            cancelled = True
            break
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        epoch = 0
        for k in range(cfg.grad_accum):
            idx, epoch = plan.micro_batch(step * cfg.grad_accum + k)
            ids, mask, labels = collate([encoded[j] for j in idx], pad)
            result = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
            (result.loss / cfg.grad_accum).backward()
            step_loss += result.loss.item() / cfg.grad_accum
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        lr_now = scheduler.get_last_lr()[0]
        scheduler.step()
        step += 1
        last_loss = step_loss
        window.append(step_loss)
        elapsed = time.perf_counter() - started
        rate = (step - start_step) / elapsed if elapsed > 0 else 0.0
        epoch_f = step * cfg.grad_accum / plan.per_epoch
        rec = {
            "step": step,
            "epoch": round(epoch_f, 4),
            "loss": step_loss,
            "lr": lr_now,
            "elapsed_s": round(elapsed, 3),
        }
        loss_log.append(rec)
        if on_loss:
            on_loss(rec)
        if on_progress:
            on_progress(
                Progress(
                    step,
                    total,
                    epoch_f,
                    step_loss,
                    lr_now,
                    elapsed,
                    rate,
                    (total - step) / rate if rate > 0 else float("inf"),
                )
            )
        if step % cfg.save_steps == 0 or step == total:
            save(step)
            last_saved = step
    if cancelled and step > last_saved:
        save(step)
        say(f"cancelled at step {step}; checkpoint saved, continue with --resume")
    elapsed = time.perf_counter() - started
    steps_per_s = (step - start_step) / elapsed if elapsed > 0 and step > start_step else 0.0

    best_dir = out / "best"
    published = best_dir if best_dir.is_dir() else (ck.list_checkpoints(out)[-1] if ck.list_checkpoints(out) else None)
    if published is not None:
        final_meta = {
            **meta,
            "steps_done": step,
            "total_steps": total,
            "best_step": best_step,
            "best_metric": best_metric,
            "last_loss": last_loss,
            "eval_loss": last_eval,
            "cancelled": cancelled,
        }
        ck.publish(out, published, final_meta)
    png = out / "loss.png"
    return FinetuneResult(
        out_dir=out,
        steps_done=step,
        total_steps=total,
        start_step=start_step,
        cancelled=cancelled,
        best_step=best_step,
        best_metric=best_metric,
        last_loss=last_loss,
        eval_loss=last_eval,
        steps_per_s=steps_per_s,
        report=report,
        loss_png=png if png.is_file() else None,
        checkpoints=checkpoints,
    )

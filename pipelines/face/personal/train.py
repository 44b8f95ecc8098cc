"""Train the personal lip-sync model on clips of one person speaking (``python -m pipelines lipsync-train``).

Each step takes a batch of consecutive frame pairs ``(t, t+1)`` from the training part;
the input is the frame with its lower half blacked out plus a random reference frame of
the same clip, and the Wav2Lip mel window of the frame.  The loss is

* L1 on the whole face crop,
* plus ``mouth_weight`` x L1 on the mouth region (``data.mouth_weights``),
* plus ``temporal_weight`` x L1 between the predicted and the real frame-to-frame change
  (against jitter, as the successor of Ultralight Digital Human does).

No perceptual (VGG) loss: its weights would need a download.  Adam; after every epoch the
validation loss on the held-out tail, a checkpoint written atomically, the best one kept
and published as ``personal.safetensors``; ``resume=True`` continues the last checkpoint of
the same folder.  Uses the GPU when there is one (``device``).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pipelines.atomic_files import atomic_path, atomic_write_text
from pipelines.face.personal.data import PreparedData, mouth_weights, prepare, to_input

Progress = Callable[[str, float], None]


@dataclass
class TrainOptions:
    width: int = 8  # measured: the widest whose epoch over 3 min of video takes minutes on 2 cores
    crop: int = 128
    epochs: int = 30
    batch: int = 8  # frame pairs per step (16 frames)
    lr: float = 1e-3
    mouth_weight: float = 4.0
    temporal_weight: float = 1.0
    val_share: float = 0.1
    min_seconds: float = 60.0
    seed: int = 0
    keep: int = 2  # newest checkpoints kept (best/ is separate)
    device: str = "auto"
    threads: int = 0
    export: bool = False  # also write personal.fp32.onnx and personal.int8.onnx at the end
    audio_features: str = "mel"  # or "contentvec" (features.py): the so-vits ContentVec below
    contentvec: str = ""  # the ContentVec / HuBERT folder or .pt for audio_features "contentvec"


class TrainingError(ValueError):
    """A run that cannot start (the message says why and what to do)."""


def pairs(data: PreparedData, idx: np.ndarray) -> np.ndarray:
    """Frames ``t`` of ``idx`` whose ``t + 1`` is in ``idx`` too, from the same clip."""
    s = set(int(i) for i in idx)
    return np.array([i for i in idx if i + 1 in s and data.clip_id[i] == data.clip_id[i + 1]], np.int64)


def references(data: PreparedData, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random training frame of the same clip for every frame."""
    out = np.empty(len(frames), np.int64)
    for k, i in enumerate(frames):
        same = data.train_idx[data.clip_id[data.train_idx] == data.clip_id[i]]
        out[k] = rng.choice(same if len(same) else data.train_idx)
    return out


class LipsyncLoss:
    def __init__(self, crop: int, mouth_weight: float, temporal_weight: float, device) -> None:
        import torch

        self.torch = torch
        w = torch.from_numpy(mouth_weights(crop))[None, None].to(device)
        self.w, self.w_sum = w, float(w.sum())
        self.mouth_weight, self.temporal_weight = mouth_weight, temporal_weight

    def __call__(self, pred, gt) -> tuple:
        diff = (pred - gt).abs()
        l1 = diff.mean()
        mouth = (diff * self.w).sum() / (self.w_sum * diff.shape[0] * diff.shape[1])
        b = pred.shape[0] // 2
        temporal = ((pred[b:] - pred[:b]) - (gt[b:] - gt[:b])).abs().mean()
        total = l1 + self.mouth_weight * mouth + self.temporal_weight * temporal
        parts = {"l1": float(l1.detach()), "mouth": float(mouth.detach()), "temporal": float(temporal.detach())}
        return total, parts


def batch_tensors(data: PreparedData, t: np.ndarray, rng: np.random.Generator, device):
    """(mel, input, target) for the frames ``t`` and ``t + 1`` (first all t, then all t + 1)."""
    import torch

    frames = np.concatenate([t, t + 1])
    refs = references(data, frames, rng)
    mel = torch.from_numpy(np.ascontiguousarray(data.windows[frames][:, None])).to(device)
    inp = torch.from_numpy(to_input(data.crops[frames], data.crops[refs])).to(device)
    gt = torch.from_numpy(np.ascontiguousarray(data.crops[frames].transpose(0, 3, 1, 2))).to(device).float() / 255.0
    return mel, inp, gt


def evaluate(model, data: PreparedData, loss_fn, device, batch: int, seed: int = 1234) -> float:
    import torch

    rng = np.random.default_rng(seed)  # the same references every epoch
    val = pairs(data, data.val_idx)
    if len(val) == 0:
        return float("nan")
    was = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(val), batch):
            t = val[s : s + batch]
            mel, inp, gt = batch_tensors(data, t, rng, device)
            loss, _ = loss_fn(model(mel, inp), gt)
            total += float(loss) * len(t)
            count += len(t)
    model.train(was)
    return total / count


class ProgressBar:
    """One line on a terminal: epoch, a bar, loss and ETA (or ``progress`` callbacks)."""

    def __init__(self, total_steps: int, stream=None, progress: Progress | None = None) -> None:
        self.total, self.stream, self.progress = max(1, total_steps), stream, progress
        self.t0, self.done = time.perf_counter(), 0

    def update(self, steps_done: int, text: str) -> None:
        self.done = steps_done
        frac = min(1.0, steps_done / self.total)
        rate = (time.perf_counter() - self.t0) / max(1, steps_done)
        eta = int(rate * (self.total - steps_done))
        line = f"{text} [{'#' * int(24 * frac):<24}] {frac:4.0%} ETA {eta // 60}:{eta % 60:02d}"
        if self.progress:
            self.progress(line, frac)
        if self.stream is not None:
            self.stream.write("\r" + line)
            self.stream.flush()

    def newline(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("device is 'cuda' but PyTorch sees no CUDA GPU; use --device cpu or auto")
    return device


def train(
    clips,
    out: str | Path,
    opts: TrainOptions | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    stream=None,
    data: PreparedData | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_loss: Callable[[dict], None] | None = None,
) -> dict:
    """Train (or continue) a run in ``out``; returns a summary (epochs, losses, published weights).

    ``should_stop`` is asked after every step: a stopped run keeps its last finished
    epoch's checkpoint (``resume=True`` continues from it).  ``on_loss`` gets every loss record.
    """
    import torch

    from pipelines.dialogue.finetune_checkpoints import keep_best, list_checkpoints, prune
    from pipelines.dialogue.loss_log import LossLog
    from pipelines.face.personal.checkpoint import PUBLISHED, read_checkpoint, save_weights, write_checkpoint
    from pipelines.face.personal.model import PersonalConfig, PersonalUNet

    opts = opts or TrainOptions()
    out = Path(out)
    existing = list_checkpoints(out)
    if existing and not resume:
        raise TrainingError(
            f"{out} already holds a lip-sync run ({existing[-1].name}): pass --resume to continue it, "
            f"or choose another --out folder"
        )
    if resume and not existing:
        raise TrainingError(f"--resume: {out} holds no checkpoint to continue; start without --resume")
    device = resolve_device(opts.device)
    if opts.threads > 0:
        torch.set_num_threads(opts.threads)
    if data is None:
        data = prepare(
            clips,
            crop=opts.crop,
            min_seconds=opts.min_seconds,
            val_share=opts.val_share,
            progress=progress,
            features=feature_maker(opts),
        )
    if data.crop != opts.crop:
        raise TrainingError(f"prepared data has {data.crop} px crops, the model wants {opts.crop}")
    if data.audio_features != opts.audio_features:
        raise TrainingError(
            f"prepared data has {data.audio_features} windows, the run wants {opts.audio_features}: prepare it again"
        )
    config = PersonalConfig(opts.width, opts.crop, data.audio_features, int(data.windows.shape[1]))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "data.json", json.dumps(data.report, indent=2, default=str) + "\n")
    torch.manual_seed(opts.seed)
    model = PersonalUNet(config).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    loss_fn = LipsyncLoss(config.crop, opts.mouth_weight, opts.temporal_weight, device)
    log = LossLog(out / "loss.jsonl")
    start_epoch, step, best = 1, 0, float("inf")
    if resume:
        state = read_checkpoint(existing[-1], model, optimizer)
        start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
        best = float(state.get("best_eval", float("inf")))
        log.load(up_to_step=step)
    else:
        log.load(up_to_step=0)
    train_pairs = pairs(data, data.train_idx)
    if len(train_pairs) == 0:
        raise TrainingError("no consecutive training frames: give a longer clip")
    steps_per_epoch = math.ceil(len(train_pairs) / opts.batch)
    bar = ProgressBar(steps_per_epoch * max(0, opts.epochs - start_epoch + 1), stream, progress)
    t_run = time.perf_counter()
    epoch_times = []
    cancelled = False

    def record(rec: dict) -> None:
        log.append(rec)
        if on_loss is not None:
            on_loss(rec)

    for epoch in range(start_epoch, opts.epochs + 1):
        rng = np.random.default_rng(opts.seed * 100_003 + epoch)  # the same batches after a resume
        order = rng.permutation(train_pairs)
        t_ep = time.perf_counter()
        running = 0.0
        for s in range(steps_per_epoch):
            t = order[s * opts.batch : (s + 1) * opts.batch]
            mel, inp, gt = batch_tensors(data, t, rng, device)
            loss, parts = loss_fn(model(mel, inp), gt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            running += float(loss.detach())
            record({"step": step, "epoch": epoch, "loss": round(float(loss.detach()), 6), "lr": opts.lr, **parts})
            bar.update(bar.done + 1, f"epoch {epoch}/{opts.epochs} loss {running / (s + 1):.4f}")
            if should_stop():
                cancelled = True
                break
        if cancelled:
            break
        epoch_times.append(time.perf_counter() - t_ep)
        eval_loss = evaluate(model, data, loss_fn, device, opts.batch)
        record({"step": step, "epoch": epoch, "eval_loss": round(eval_loss, 6), "epoch_s": round(epoch_times[-1], 2)})
        improved = eval_loss < best
        best = min(best, eval_loss)
        state = {"epoch": epoch, "step": step, "best_eval": best, "eval_loss": eval_loss, "options": asdict(opts)}
        ckpt = write_checkpoint(out, epoch, model, optimizer, state)
        if improved:
            keep_best(out, ckpt)
            save_weights(model, out / PUBLISHED, {"epoch": epoch, "eval_loss": eval_loss})
        prune(out, opts.keep)
        try:
            log.plot(out / "loss.png", title="lip-sync loss")
        except Exception:  # matplotlib missing: the log itself is what counts
            pass
    bar.newline()
    summary = {
        "out": str(out),
        "weights": str(out / PUBLISHED),
        "epochs": opts.epochs,
        "cancelled": cancelled,
        "steps": step,
        "best_eval_loss": best,
        "eval_losses": log.series("eval_loss")[1],
        "epoch_s": round(float(np.mean(epoch_times)), 2) if epoch_times else 0.0,
        "seconds": round(time.perf_counter() - t_run, 2),
        "device": device,
        "data": data.report,
    }
    if opts.export and (out / PUBLISHED).is_file():
        from pipelines.face.personal.export import export_all

        summary["onnx"] = {k: str(v) for k, v in export_all(out / PUBLISHED, data, out).items()}
    with atomic_path(out / "train.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def feature_maker(opts: TrainOptions):
    """The ``features.py`` maker of ``opts.audio_features`` (None for the mel windows ``prepare`` makes itself)."""
    from pipelines.face.personal.features import make_features

    if opts.audio_features == "mel":
        return None
    maker = make_features(opts.audio_features, opts.contentvec, device=resolve_device(opts.device))
    maker.check()
    return maker


def default_out(persona: str | Path) -> Path:
    from pipelines.paths import REPO_ROOT

    return Path(REPO_ROOT) / "module" / "lipsync" / Path(str(persona)).name


def stderr_stream():
    return sys.stderr if sys.stderr.isatty() else None

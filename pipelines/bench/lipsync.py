"""``python -m pipelines bench lipsync``: the personal lip-sync model's speed by width, and its quality.

Speed (``--widths 8,12,16,24,32``): for each UNet width at ``--crop`` pixels, the
parameters, multiply-accumulates per frame, frames per second of one render batch
(``--batch``) on PyTorch (BatchNorm folded, channels-last), ONNX Runtime fp32 and ONNX
Runtime int8 (the project's QDQ export), the time of the first batch of a turn
(``face.wav2lip.first_batch`` frames), and the seconds of one training epoch over 3 minutes of
video (measured training steps scaled to the 3-minute step count).

Quality (``--clip`` or the synthetic talking portrait): trains a model (``--width``,
``--epochs``; or takes ``--weights``), then on the clip's held-out tail renders the tail's
own audio with ``personal``, ``warp`` (and ``wav2lip`` when ``--wav2lip`` weights are
given) and prints mouth PSNR / SSIM against the real frames and the mouth-opening vs
loudness correlation (the real frames' own correlation is the ceiling).  On the
synthetic clip the ground truth *is* warp's mouth, so warp's figures there are a
ceiling, not a competitor.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THREE_MINUTES_FRAMES = 3 * 60 * 25


def _fps(call, batch: int, reps: int = 3) -> float:
    call()
    t = time.perf_counter()
    for _ in range(reps):
        call()
    return batch * reps / (time.perf_counter() - t)


def speed_row(
    width: int, crop: int, batch: int = 8, first_batch: int = 4, threads: int = 2, train_batch: int = 8
) -> dict:
    import torch

    from pipelines.face.personal.export import export_fp32, export_int8
    from pipelines.face.personal.inference import PersonalInference
    from pipelines.face.personal.model import PersonalConfig, PersonalUNet, count_macs, count_params, fuse_batchnorm
    from pipelines.face.personal.train import LipsyncLoss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PersonalUNet(PersonalConfig(width, crop))
    row = {"width": width, "crop": crop, "params_m": round(count_params(model) / 1e6, 2)}
    row["gmac"] = round(count_macs(model) / 1e9, 3)
    rng = np.random.default_rng(0)
    mel = rng.normal(0, 1.5, (batch, 1, 80, 16)).clip(-4, 4).astype(np.float32)
    face = rng.random((batch, 6, crop, crop), dtype=np.float32)
    # training: forward + backward + Adam on train_batch pairs (2 x train_batch frames)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = LipsyncLoss(crop, 4.0, 1.0, "cpu")
    m2 = torch.from_numpy(np.concatenate([mel] * (2 * train_batch // batch + 1))[: 2 * train_batch])
    f2 = torch.from_numpy(np.concatenate([face] * (2 * train_batch // batch + 1))[: 2 * train_batch])
    g2 = f2[:, :3].clone()

    def step():
        loss, _ = loss_fn(model(m2, f2), g2)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(2):
        step()
    step_s = (time.perf_counter() - t) / 2
    row["epoch_3min_s"] = round(step_s * np.ceil(0.9 * THREE_MINUTES_FRAMES / train_batch), 1)
    model.eval()
    fused = fuse_batchnorm(model).to(memory_format=torch.channels_last)
    tm, tf = torch.from_numpy(mel), torch.from_numpy(face).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        row["fps_torch"] = round(_fps(lambda: fused(tm, tf), batch), 1)
    with tempfile.TemporaryDirectory() as work:
        fp32 = export_fp32(model, Path(work) / "m.fp32.onnx")
        int8 = export_int8(fp32, Path(work) / "m.int8.onnx", mel, face, batch=batch)
        for name, path in (("fp32", fp32), ("int8", int8)):
            inf = PersonalInference(path, threads=threads).load()
            row[f"fps_ort_{name}"] = round(_fps(lambda inf=inf: inf(mel, face), batch), 1)
            t = time.perf_counter()
            inf(mel[:first_batch], face[:first_batch])
            row[f"first_batch_s_{name}"] = round(time.perf_counter() - t, 3)
    return row


def print_speed(rows: list[dict], header: bool = True) -> None:
    cols = [
        "width",
        "crop",
        "params_m",
        "gmac",
        "fps_torch",
        "fps_ort_fp32",
        "fps_ort_int8",
        "first_batch_s_int8",
        "epoch_3min_s",
    ]
    if header:
        print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in cols))


def quality_table(args) -> dict:
    from pipelines.face.personal import quality
    from pipelines.face.personal.data import prepare
    from pipelines.face.personal.renderer import PersonalRenderer
    from pipelines.face.personal.train import TrainOptions, train
    from pipelines.face.warp.renderer import WarpRenderer
    from pipelines.paths import SOURCE_DIR
    from pipelines.persona import Persona
    from pipelines.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-lipsync-"))
    clip = Path(args.clip) if args.clip else None
    if clip is None:
        from pipelines.testing.talking_clip import make_talking_clip

        clip = make_talking_clip(work / "talking.mp4", seconds=args.seconds, side=256)
    data = prepare([clip], crop=args.crop, min_seconds=1.0, val_share=args.val_share)
    weights = args.weights
    info: dict = {"clip": str(clip), "data": data.report}
    if not weights:
        opts = TrainOptions(
            width=args.width,
            crop=args.crop,
            epochs=args.epochs,
            batch=args.train_batch,
            lr=args.lr,
            min_seconds=1.0,
            val_share=args.val_share,
            threads=args.threads,
        )
        t = time.perf_counter()
        summary = train(None, work / "run", opts, data=data)
        info["train"] = {
            "seconds": round(time.perf_counter() - t, 1),
            "epoch_s": summary["epoch_s"],
            "eval_losses": summary["eval_losses"],
        }
        weights = summary["weights"]
    settings = Settings()
    settings.face.personal.checkpoint = str(weights)
    settings.face.personal.runtime = "torch"
    persona = Persona.load(SOURCE_DIR / "default")
    audio, sr = data.tail_audio
    rows = {"real": quality.real_reference(data.tail, audio, sr, 25.0)}
    r = PersonalRenderer.from_settings(settings, persona, avatar=data.tail)
    r.load()
    rows["personal"] = quality.evaluate(r, data.tail, audio, sr)
    w = WarpRenderer.from_settings(settings, persona, avatar=data.tail)
    w.load()
    rows["warp"] = quality.evaluate(w, data.tail, audio, sr)
    if args.wav2lip:
        from pipelines.face.wav2lip.renderer import Wav2LipRenderer

        settings.face.wav2lip.checkpoint = args.wav2lip
        v = Wav2LipRenderer.from_settings(settings, persona, avatar=data.tail)
        v.load()
        rows["wav2lip"] = quality.evaluate(v, data.tail, audio, sr)
    info["rows"] = rows
    return info


def print_quality(info: dict) -> None:
    print(f"held-out tail of {info['clip']}: {info['data']['val_frames']} frames")
    if "train" in info:
        t = info["train"]
        print(f"trained in {t['seconds']} s ({t['epoch_s']} s/epoch), validation loss {t['eval_losses']}")
    print("backend | mouth PSNR dB | mouth SSIM | opening~loudness r")
    for name, r in info["rows"].items():
        print(f"{name} | {r.get('mouth_psnr', '-')} | {r.get('mouth_ssim', '-')} | {r['open_loud_corr']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines bench lipsync", description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", default="8,12,16,24,32", help="widths for the speed table ('' skips it)")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quality", action="store_true", help="also train on a clip and compare on its held-out tail")
    ap.add_argument("--clip", default="", help="a clip of a person speaking (default: the synthetic talking portrait)")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the synthetic clip")
    ap.add_argument("--weights", default="", help="trained personal.safetensors (skip training)")
    ap.add_argument("--wav2lip", default="", help="Wav2Lip checkpoint to compare with")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--val-share", type=float, default=0.1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result: dict = {}
    if args.widths:
        rows = []
        for w in args.widths.split(","):
            rows.append(speed_row(int(w), args.crop, args.batch, threads=args.threads))
            if not args.json:  # a row as soon as it is measured
                print_speed(rows[-1:], header=len(rows) == 1)
                sys.stdout.flush()
        result["speed"] = rows
    if args.quality:
        try:
            result["quality"] = quality_table(args)
        except ValueError as exc:
            print(f"bench lipsync: {exc}", file=sys.stderr)
            return 2
        if not args.json:
            print_quality(result["quality"])
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

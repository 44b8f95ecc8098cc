"""``python -m pipelines lipsync-train --persona NAME clip.mp4 [...]``: train the persona's own lip-sync model.

Checks the clips (sound, speech, length, one face), prints how much is usable, trains
with a progress bar and ETA, and publishes ``module/lipsync/NAME/personal.safetensors``
(``--export``: also its fp32 and int8 ONNX).  Defaults come from ``face.personal`` in the
settings.  Exit code 0 on success, 2 when the clips or the folder are refused (one line
on stderr saying why; nothing trained before is touched).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def contentvec_path(settings) -> str:
    """``face.personal.contentvec_dir``, else the so-vits encoder ``voice.sovits.contentvec_dir``."""
    return settings.face.personal.contentvec_dir or settings.voice.sovits.contentvec_dir


def main(argv: list[str] | None = None) -> int:
    from pipelines.settings import load_settings

    try:
        settings = load_settings()
    except Exception:
        from pipelines.settings import Settings

        settings = Settings()
    cfg = settings.face.personal
    ap = argparse.ArgumentParser(
        prog="python -m pipelines lipsync-train",
        description="Train a lip-sync model of one person from 1-5 minutes of video of them speaking (CPU or GPU).",
    )
    ap.add_argument("clips", nargs="+", help="video clips of the persona speaking, with their sound")
    ap.add_argument("--persona", default="default", help="persona name: the output goes to module/lipsync/NAME")
    ap.add_argument("--out", default="", help="output folder (default module/lipsync/PERSONA)")
    ap.add_argument("--width", type=int, default=cfg.width, help=f"UNet width (default {cfg.width})")
    ap.add_argument("--crop", type=int, default=cfg.crop, help=f"face crop pixels (default {cfg.crop})")
    ap.add_argument("--epochs", type=int, default=cfg.epochs)
    ap.add_argument("--batch", type=int, default=cfg.batch, help="frame pairs per step")
    ap.add_argument("--lr", type=float, default=cfg.lr)
    ap.add_argument("--min-seconds", type=float, default=cfg.min_seconds, help="least seconds of video accepted")
    ap.add_argument("--val-share", type=float, default=cfg.val_share, help="share of the tail held out")
    ap.add_argument("--device", default=settings.device, choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=settings.threads, help="CPU threads (0: all)")
    ap.add_argument(
        "--audio-features",
        default=cfg.audio_features,
        choices=("mel", "contentvec"),
        help="mel (Wav2Lip mel windows) or contentvec (the so-vits ContentVec encoder)",
    )
    ap.add_argument(
        "--contentvec",
        default=contentvec_path(settings),
        help="ContentVec folder or .pt for --audio-features contentvec (default: the settings' so-vits one)",
    )
    ap.add_argument("--resume", action="store_true", help="continue the last checkpoint in the output folder")
    ap.add_argument("--export", action="store_true", help="also export personal.fp32.onnx and personal.int8.onnx")
    args = ap.parse_args(argv)

    from pipelines.face.personal.data import LipsyncDataError, prepare, report_lines
    from pipelines.face.personal.train import TrainingError, TrainOptions, default_out, feature_maker, train

    out = Path(args.out) if args.out else default_out(args.persona)
    try:
        opts = TrainOptions(
            width=args.width,
            crop=args.crop,
            epochs=args.epochs,
            batch=args.batch,
            lr=args.lr,
            min_seconds=args.min_seconds,
            val_share=args.val_share,
            device=args.device,
            threads=args.threads,
            export=args.export,
            audio_features=args.audio_features,
            contentvec=args.contentvec,
        )
        from pipelines.face.personal.model import PersonalConfig

        PersonalConfig(opts.width, opts.crop)
        tty = sys.stderr.isatty()

        def show(msg: str, frac: float) -> None:
            if tty:
                print("\r" + msg[:100].ljust(100), end="", file=sys.stderr, flush=True)

        data = prepare(
            args.clips,
            crop=opts.crop,
            min_seconds=opts.min_seconds,
            val_share=opts.val_share,
            progress=show,
            features=feature_maker(opts),
        )
        if tty:
            print(file=sys.stderr)
        print("\n".join(report_lines(data.report)))
        summary = train(args.clips, out, opts, resume=args.resume, data=data, stream=sys.stderr if tty else None)
    except (LipsyncDataError, TrainingError, ValueError) as exc:
        print(f"lipsync-train: {exc}", file=sys.stderr)
        return 2
    print(
        f"trained {summary['epochs']} epochs ({summary['steps']} steps, {summary['epoch_s']:.1f} s per epoch on "
        f"{summary['device']}); best validation loss {summary['best_eval_loss']:.4f}"
    )
    print(f"weights: {summary['weights']}")
    for k, v in summary.get("onnx", {}).items():
        print(f"onnx {k}: {v}")
    print("use it: set face.backend to 'personal' (and face.personal.checkpoint if not the default path)")
    return 0

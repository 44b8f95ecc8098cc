"""``python -m pipelines voice-train --clips DIR --out module/So-VITS/<name>``: train a so-vits-svc voice.

Checks the clips, writes the config, extracts ContentVec units and F0, trains
with progress and checkpoints, and leaves a folder the ``sovits`` backend loads
(``--set voice.vc_backend=sovits --set voice.sovits.model_dir=<out>``).  Run the same
command again to resume; raise ``--epochs`` to train further.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines voice-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--clips", required=True, help="folder of recordings of one speaker (wav/flac, 5-15 s each, ≥ 5)")
    ap.add_argument("--out", required=True, help="voice folder to write (e.g. module/So-VITS/alice)")
    ap.add_argument(
        "--contentvec", default="", help="ContentVec encoder (default: voice.sovits.contentvec_dir from the settings)"
    )
    ap.add_argument("--speaker", default="", help="speaker name in the config (default: the --out folder name)")
    ap.add_argument(
        "--size",
        default="full",
        choices=("full", "tiny"),
        help="model size: full (so-vits 4.0, 44.1 kHz) or tiny (16 kHz, for trials on a CPU)",
    )
    ap.add_argument(
        "--units",
        default="auto",
        choices=("auto", "vec768", "legacy"),
        help="ContentVec units: vec768 (last layer) or legacy (256-d, DL-B's 4.0 models); "
        "auto: legacy when --pretrained is a 256-d model",
    )
    ap.add_argument(
        "--layout",
        default="4.1",
        choices=("4.1", "fork"),
        help="config format: 4.1 (so-vits-svc 4.1's template, read by its own tools; default) or "
        "fork (so-vits-svc-fork's)",
    )
    ap.add_argument("--pretrained", default="", help="folder with G_0.pth and D_0.pth to fine-tune from")
    ap.add_argument("--epochs", type=int, default=100, help="train until this epoch (default 100)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--save-every", type=int, default=10, help="checkpoint every N epochs (and at the end)")
    ap.add_argument("--keep", type=int, default=3, help="checkpoints to keep (0: all)")
    ap.add_argument("--f0-method", default="dio", choices=("dio", "harvest", "crepe-tiny", "crepe", "parselmouth"))
    ap.add_argument("--device", default="", choices=("", "auto", "cpu", "cuda"), help="default: the settings' device")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--settings", default=None, help="settings file (default: settings.json if present)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..cli_settings import settings_from_args
    from ..settings import SettingsError
    from .contentvec import ContentVecError
    from .voice_train import TrainOptions, VoiceTrainError, train_voice

    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(f"voice-train: {exc}", file=sys.stderr)
        return 2
    contentvec = args.contentvec or settings.voice.sovits.contentvec_dir
    if not contentvec:
        print(
            "voice-train: no ContentVec encoder: pass --contentvec PATH (a content-vec-best folder or "
            "checkpoint_best_legacy_500.pt) or set voice.sovits.contentvec_dir",
            file=sys.stderr,
        )
        return 2
    device = args.device if args.device not in ("", "auto") else settings.resolved_device()
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    opts = TrainOptions(
        clips=settings.resolve(args.clips),
        out=settings.resolve(args.out),
        contentvec=settings.resolve(contentvec),
        speaker=args.speaker,
        size=args.size,
        units=args.units,
        layout=args.layout,
        epochs=args.epochs,
        batch_size=args.batch_size,
        save_every=args.save_every,
        keep=args.keep,
        f0_method=args.f0_method,
        device=device,
        pretrained=settings.resolve(args.pretrained) if args.pretrained else None,
        log=lambda line: print(line, flush=True),
    )
    try:
        train_voice(opts)
    except (VoiceTrainError, ContentVecError) as exc:
        print(f"voice-train: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("voice-train: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

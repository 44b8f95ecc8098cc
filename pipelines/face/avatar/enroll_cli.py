"""``python -m pipelines enroll --name NAME clip.mp4 [clip2.mp4 ...]``: enroll a face.

Also accepts a single portrait image.  Prints progress on stderr and the quality
report (human-readable, or JSON with ``--json``).  Exit code 0 on success, 2 when
the clips are refused (nothing enrolled before is touched).
"""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.face.avatar.enroll import DEFAULT_PERSONAS, MAX_SIDE, PADS, EnrollmentError, enroll


def _progress(quiet: bool):
    last = [""]

    def show(message: str, fraction: float) -> None:
        if quiet:
            return
        line = f"[{fraction * 100:5.1f}%] {message}"
        if line != last[0]:
            print("\r" + line.ljust(72), end="", file=sys.stderr, flush=True)
            last[0] = line

    return show


def format_report(report: dict) -> str:
    lines = [
        f"enrolled {report['frames']} frames at {report['fps']:g} fps "
        f"({report['duration_s']:.1f} s, {report['frame_size'][0]}x{report['frame_size'][1]}) "
        f"into {report.get('avatar_dir', '?')} in {report['seconds']:.1f} s"
    ]
    for q in report["clips"]:
        lines.append(
            f"  {q['clip']}: {q['frames']} frames, face on {q['face_share']:.0%}, "
            f"face {q['face_size_px'][0]:.0f}x{q['face_size_px'][1]:.0f} px, sharpness {q['sharpness']:.0f}, "
            f"brightness {q['brightness']:.0f}/255, head motion {q['head_motion']:.3f}, "
            f"source {q['source_fps'] or '-'} fps, rotation {q['rotation']:g}"
        )
    if report["advice"]:
        lines.append("advice:")
        lines += [f"  - {a}" for a in report["advice"]]
    else:
        lines.append("quality: good")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines enroll",
        description="Enroll a face from 5-10 s video clips (any fps, rotation, resolution) or one portrait "
        "image into the persona's avatar folder (source/NAME/avatar/).",
    )
    ap.add_argument("clips", nargs="+", help="video clips (mp4, mov, webm, ...) or one image")
    ap.add_argument("--name", required=True, help="persona name (folder under --persona-dir) or a persona folder")
    ap.add_argument(
        "--persona-dir", default=str(DEFAULT_PERSONAS), help="folder that holds the personas (default: source/)"
    )
    ap.add_argument(
        "--max-side",
        type=int,
        default=MAX_SIDE,
        help=f"keep frames with the longer side at most this many pixels (default {MAX_SIDE})",
    )
    ap.add_argument(
        "--pads",
        nargs=4,
        type=int,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        default=None,
        help="pixels added to the Wav2Lip face box (default 0 10 0 0; more BOTTOM for a cut-off chin)",
    )
    ap.add_argument(
        "--box",
        nargs=4,
        type=int,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        default=None,
        help="a fixed face box in the clip's pixels instead of detection (Wav2Lip's --box)",
    )
    ap.add_argument(
        "--nosmooth", action="store_true", help="do not smooth the face box over time (Wav2Lip's --nosmooth)"
    )
    ap.add_argument("--json", action="store_true", help="print the quality report as JSON")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)
    try:
        report = enroll(
            args.name,
            args.clips,
            _progress(args.quiet or args.json),
            persona_dir=args.persona_dir,
            max_side=args.max_side,
            pads=args.pads if args.pads else PADS,
            box=args.box,
            nosmooth=args.nosmooth,
        )
    except EnrollmentError as exc:
        if not args.quiet:
            print(file=sys.stderr)
        print(f"enrollment refused: {str(exc).rstrip('.')}. Nothing was changed.", file=sys.stderr)
        return 2
    if not (args.quiet or args.json):
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

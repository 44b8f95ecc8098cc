"""Speed of the ``warp`` face backend and of enrollment (figures for ``bench render`` and reports).

``python -m pipelines.bench.warp [--seconds 10] [--enroll-seconds 10] [--json]``

* warp: frames per second of ``WarpRenderer.process`` on the bundled portrait
  (512×512) for speech-like audio, on one OpenCV thread, and the split between
  idle (mouth closed) and speaking frames;
* enroll: seconds to enroll a synthetic 720p, 30 fps clip of the portrait with
  head motion (written first, not timed), split into the whole call and the
  part before saving.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _speech_like(seconds: float, sr: int = 22050) -> np.ndarray:
    """Syllables (4 per second) of a harmonic tone with pauses, like TTS output."""
    t = np.arange(int(seconds * sr)) / sr
    syll = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, 1) ** 0.7
    pause = (np.sin(2 * np.pi * 0.25 * t) > -0.7).astype(np.float32)
    f0 = 180 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.25 * syll * pause * x).astype(np.float32)


def measure_warp(seconds: float = 10.0, threads: int = 1) -> dict:
    import cv2

    from pipelines.face.avatar.enroll import build_avatar
    from pipelines.face.warp.renderer import WarpRenderer
    from pipelines.messages import AudioChunk
    from pipelines.persona import Persona
    from pipelines.settings import DEFAULT_PERSONA, Settings
    from pipelines.stage import TurnContext

    cv2.setNumThreads(threads)
    persona = Persona.load(DEFAULT_PERSONA)
    t0 = time.perf_counter()
    avatar, _ = build_avatar([persona.portrait])
    r = WarpRenderer.from_settings(Settings(), persona, avatar=avatar)
    r.load()
    load_s = time.perf_counter() - t0
    sr = 22050
    x = _speech_like(seconds, sr)
    list(r.process(AudioChunk(0, x[: sr // 2], sr, "warm-up"), TurnContext(0)))
    t0 = time.perf_counter()
    out = list(r.process(AudioChunk(1, x, sr, "bench"), TurnContext(1)))
    dt = time.perf_counter() - t0
    n = len(out[0].frames)
    opens = r.last_openings
    # per-kind cost
    t0 = time.perf_counter()
    for i in range(100):
        r.render_frame(i, 0.0)
    idle_ms = (time.perf_counter() - t0) * 10
    t0 = time.perf_counter()
    for i in range(100):
        r.render_frame(i, 0.8)
    open_ms = (time.perf_counter() - t0) * 10
    h, w = avatar.frames.shape[1:3]
    return {
        "frame_size": [w, h],
        "frames": n,
        "audio_s": round(n / 25, 2),
        "seconds": round(dt, 3),
        "fps": round(n / dt, 1),
        "realtime_factor": round(dt / (n / 25), 4),
        "speaking_share": round(float((opens > 0).mean()), 3),
        "idle_frame_ms": round(idle_ms, 2),
        "open_frame_ms": round(open_ms, 2),
        "opencv_threads": threads,
        "load_s": round(load_s, 2),
    }


def measure_enroll(
    seconds: float = 10.0, size: tuple[int, int] = (1280, 720), fps: float = 30.0, folder: str | Path | None = None
) -> dict:
    from pipelines.face.avatar.enroll import enroll
    from pipelines.testing.portrait_clip import make_head_motion_clip

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        clip, _ = make_head_motion_clip(Path(tmp) / "clip.mp4", seconds=seconds, fps=fps, size=size)
        t0 = time.perf_counter()
        report = enroll(Path(tmp) / "bench_persona", [clip])
        total = time.perf_counter() - t0
    return {
        "clip": f"{seconds:g} s {size[0]}x{size[1]} @ {fps:g} fps",
        "frames": report["frames"],
        "frame_size": report["frame_size"],
        "enroll_s": round(total, 2),
        "build_s": report["seconds"],
        "save_s": round(total - report["seconds"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.bench.warp", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="audio to render with the warp backend")
    ap.add_argument("--enroll-seconds", type=float, default=10.0, help="length of the 720p clip to enroll (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = {"warp": measure_warp(args.seconds)}
    if args.enroll_seconds > 0:
        res["enroll"] = measure_enroll(args.enroll_seconds)
    if args.json:
        print(json.dumps(res))
        return 0
    w = res["warp"]
    print(f"warp renderer, {w['frame_size'][0]}x{w['frame_size'][1]}, {w['opencv_threads']} OpenCV thread:")
    print(
        f"  {w['frames']} frames ({w['audio_s']} s of audio, {w['speaking_share']:.0%} speaking) in "
        f"{w['seconds']:.2f} s = {w['fps']:.0f} fps ({w['fps'] / 25:.1f}x real time at 25 fps)"
    )
    print(f"  idle frame {w['idle_frame_ms']:.2f} ms, speaking frame {w['open_frame_ms']:.2f} ms")
    if "enroll" in res:
        e = res["enroll"]
        print(
            f"enrollment of a {e['clip']} clip: {e['enroll_s']:.2f} s "
            f"(read + detect + crops {e['build_s']:.2f} s, save {e['save_s']:.2f} s), "
            f"{e['frames']} frames at {e['frame_size'][0]}x{e['frame_size'][1]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

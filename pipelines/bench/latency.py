"""``python -m pipelines bench latency --turns N``: end-to-end turn latency.

Runs N turns through the engine with the configured backends (the embedded
default unless settings say otherwise) and prints, per stage and for the turn:
time to first output (first audio for the voice, first frame for the face),
busy time, real-time factor, and the process's peak RSS.  Model loading is
timed separately and not counted in the turns.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from ..cli_settings import add_settings_arguments, settings_from_args
from ..engine import STAGE_ORDER, Engine, peak_rss_mb

PROMPTS = [
    "你好，介绍一下你自己",
    "What can you do?",
    "今天天气怎么样？",
    "Tell me a joke.",
    "你喜欢什么？",
    "Thank you, goodbye!",
]


def run_turns(engine, prompts: list[str], timeout: float = 600) -> list:
    """One turn per prompt through a started engine, then the engine closed; a failed turn raises."""
    records = []
    try:
        for prompt in prompts:
            rec = engine.wait(engine.submit(prompt), timeout=timeout)
            if rec.status != "ok":
                raise RuntimeError(f"turn {rec.turn_id} ended with {rec.status}: {rec.error}")
            records.append(rec)
    finally:
        engine.close()
    return records


def run(settings, turns: int) -> dict:
    out_dir = tempfile.mkdtemp(prefix="bench-latency-")
    settings.output_dir = out_dir
    t = time.perf_counter()
    engine = Engine(settings).start()
    load_s = time.perf_counter() - t
    records = run_turns(engine, [PROMPTS[i % len(PROMPTS)] for i in range(turns)])

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    stages = {}
    for name in STAGE_ORDER:
        figs = [r.stages[name] for r in records]
        stages[name] = {
            "backend": engine.describe().get(name, ""),
            "first_output_s": med(f.first_output_s for f in figs),
            "busy_s": med(f.busy_s for f in figs),
            "rtf": med(f.rtf for f in figs),
        }
    return {
        "turns": turns,
        "load_s": load_s,
        "peak_rss_mb": peak_rss_mb(),
        "turn": {
            "first_audio_s": med(r.first_audio_s for r in records),
            "first_frame_s": med(r.first_frame_s for r in records),
            "wall_s": med(r.wall_s for r in records),
            "audio_s": med(r.audio_s for r in records),
            "rtf": med(r.rtf for r in records),
            "render_rtf": med(r.render_rtf for r in records),
        },
        "stages": stages,
        "per_turn": [
            {
                "user": r.user_text,
                "first_audio_s": r.first_audio_s,
                "first_frame_s": r.first_frame_s,
                "wall_s": r.wall_s,
                "audio_s": r.audio_s,
                "rtf": r.rtf,
            }
            for r in records
        ],
    }


def random_wav2lip_int8(settings, workdir: str, log=print, checkpoint: str = "") -> str:
    """An int8 ONNX Wav2Lip with random weights (the official architecture), calibrated on the
    persona's own face and espeak speech: for ``--face wav2lip`` without a checkpoint.
    ``checkpoint``: also write the same weights there as an official training checkpoint."""
    from pathlib import Path

    import numpy as np

    from pipelines.face.avatar.loading import load_avatar
    from pipelines.face.wav2lip.export import onnx_export as ex
    from pipelines.face.wav2lip.export.calibration import (
        SENTENCES,
        paired_inputs,
        speech_samples,
        speech_windows,
    )

    from ..persona import Persona
    from ..testing.wav2lip_random import random_wav2lip

    persona = Persona.load(settings.persona_dir)
    avatar = load_avatar(persona, settings)
    mels, faces = paired_inputs(
        np.asarray(avatar.crops), speech_windows(speech_samples(persona, SENTENCES[0::2])), 64, seed=0
    )
    t0 = time.perf_counter()
    model = random_wav2lip(0, mels[:32], faces[:32])
    if checkpoint:
        from pipelines.face.wav2lip.checkpoint import save_checkpoint

        save_checkpoint(model, checkpoint)
    fp32 = ex.export_fp32(model, Path(workdir) / "w2l.fp32.onnx")
    path = ex.quantize_int8(fp32, Path(workdir) / "w2l.int8.onnx", mels, faces)
    log(f"random-weight Wav2Lip exported to int8 ONNX in {time.perf_counter() - t0:.1f} s (not timed)")
    return str(path)


def random_personal_int8(settings, workdir: str, log=print) -> str:
    """A random-weight personal lip-sync model at the default width and crop (``face.personal``), with
    its int8 ONNX export beside it (calibrated on the persona's face and espeak speech), for
    ``--face personal`` without a trained model: an untrained model costs the same time."""
    from pathlib import Path

    import numpy as np
    import torch

    from pipelines.face.avatar.loading import load_avatar
    from pipelines.face.personal.checkpoint import save_weights
    from pipelines.face.personal.data import face_crops, to_input
    from pipelines.face.personal.export import export_fp32, export_int8
    from pipelines.face.personal.model import PersonalConfig, PersonalUNet
    from pipelines.face.wav2lip.export.calibration import SENTENCES, speech_samples, speech_windows

    from ..persona import Persona

    cfg = settings.face.personal
    persona = Persona.load(settings.persona_dir)
    avatar = load_avatar(persona, settings)
    torch.manual_seed(0)
    model = PersonalUNet(PersonalConfig(width=cfg.width, crop=cfg.crop)).eval()
    t0 = time.perf_counter()
    weights = save_weights(model, Path(workdir) / "personal.safetensors")
    rng = np.random.default_rng(0)
    mels = speech_windows(speech_samples(persona, SENTENCES[0::2]))
    mels = mels[rng.choice(len(mels), size=min(32, len(mels)), replace=False)][:, None]
    picks = rng.choice(len(avatar.frames), size=len(mels))
    crops = face_crops(np.asarray(avatar.frames)[picks], np.asarray(avatar.boxes)[picks], cfg.crop)
    fp32 = export_fp32(model, Path(workdir) / "personal.fp32.onnx")
    export_int8(fp32, Path(workdir) / "personal.int8.onnx", mels, to_input(crops, crops))
    log(
        f"random-weight personal model (width {cfg.width}, crop {cfg.crop}) exported to int8 ONNX in "
        f"{time.perf_counter() - t0:.1f} s (not timed)"
    )
    return str(weights)


def fmt(v, unit="s"):
    return "-" if v is None else f"{v:.3f}{unit}" if unit == "s" else f"{v:.2f}"


def print_table(res: dict) -> None:
    print(f"model load {res['load_s']:.2f}s, {res['turns']} turns, medians; peak RSS {res['peak_rss_mb']:.0f} MB")
    print(f"{'stage':<10}{'backend':<14}{'first out':>11}{'busy':>10}{'RTF':>8}")
    for name, s in res["stages"].items():
        print(f"{name:<10}{s['backend']:<14}{fmt(s['first_output_s']):>11}{fmt(s['busy_s']):>10}{fmt(s['rtf'], ''):>8}")
    t = res["turn"]
    print(
        f"turn: first audio {fmt(t['first_audio_s'])}, first frame {fmt(t['first_frame_s'])}, "
        f"wall {fmt(t['wall_s'])} for {fmt(t['audio_s'])} of speech, "
        f"turn RTF {fmt(t['rtf'], '')}, render RTF (tts+vc+face busy / audio) {fmt(t['render_rtf'], '')}"
    )
    print("targets: first audio and first frame <= 0.8 s, render RTF <= 0.5, peak RSS <= 1500 MB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipelines bench latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--turns", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--face",
        choices=("warp", "wav2lip", "personal"),
        default=None,
        help="face backend; 'wav2lip' without --face.wav2lip.checkpoint times a random-weight int8 ONNX "
        "export of the official architecture, 'personal' without --face.personal.checkpoint a random-weight "
        "personal lip-sync model at face.personal.width / crop (its int8 export)",
    )
    add_settings_arguments(p)
    args = p.parse_args(argv)
    settings = settings_from_args(args)
    if args.face:
        settings = settings.replace("face.backend", args.face)
    if settings.face.backend == "wav2lip" and not settings.face.wav2lip.checkpoint:
        workdir = tempfile.mkdtemp(prefix="bench-w2l-")
        settings = settings.replace("face.wav2lip.checkpoint", random_wav2lip_int8(settings, workdir))
    if settings.face.backend == "personal" and not settings.face.personal.checkpoint:
        workdir = tempfile.mkdtemp(prefix="bench-personal-")
        settings = settings.replace("face.personal.checkpoint", random_personal_int8(settings, workdir))
    res = run(settings, args.turns)
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=2))
    else:
        print_table(res)
    return 0

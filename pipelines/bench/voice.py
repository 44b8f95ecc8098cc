"""``python -m pipelines bench voice``: so-vits-svc conversion speed on this machine.

For each model (``tiny``: the voice-train tiny config with a tiny HuBERT;
``full``: the so-vits 4.0 44.1 kHz config with a full-size HuBERT-base
ContentVec; both random-initialised, which costs the same time as trained
weights) and each F0 method, converts the same espeak sentences and reports:

* ``rtf``: conversion time / audio duration (lower is faster; ≤ 1 keeps up with speech),
* ``first_s``: time to convert the first sentence of a turn after the model is
  loaded (the stage's warm-up included in ``load_s``, as in the engine),
* ``load_s``: model + ContentVec load and warm-up.

``--model DIR --contentvec PATH`` times a real voice instead.  torch runs with
``--threads`` threads (default 2).  ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SENTENCES = [
    "你好，我是小林，很高兴认识你。",
    "今天我们聊一聊这个项目的进展。",
    "Hello, nice to meet you, let us talk about the project.",
]
TARGET_RTF_TINY_DIO = 0.5


def sentences_audio() -> list[tuple[np.ndarray, int, str]]:
    """The benchmark's input: espeak-ng sentences (the real base voice), or synthetic speech without it."""
    try:
        from ..messages import Sentence
        from ..persona import Persona
        from ..settings import Settings
        from ..stage import TurnContext
        from ..voice.espeak_tts import EspeakTTS

        s = Settings()
        tts = EspeakTTS.from_settings(s, Persona.load(s.persona_dir))
        tts.load()
        out = []
        for i, text in enumerate(SENTENCES):
            for chunk in tts.process(Sentence(1, text), TurnContext(1)):
                out.append((np.asarray(chunk.samples, np.float32), chunk.sample_rate, text))
        if out:
            return out
    except Exception as exc:  # no espeak: still time the conversion
        print(f"(espeak unavailable: {exc}; using synthetic voiced sentences)", file=sys.stderr)
    sr = 22050
    rng = np.random.default_rng(0)
    out = []
    for i, text in enumerate(SENTENCES):
        n = int(2.5 * sr)
        t = np.arange(n) / sr
        f0 = 140 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
        ph = 2 * np.pi * np.cumsum(f0) / sr
        y = sum(np.sin(k * ph) / k for k in range(1, 15)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)
        y = y + 0.01 * rng.standard_normal(n)
        out.append(((0.5 * y / np.max(np.abs(y))).astype(np.float32), sr, text))
    return out


def build_random_voice(size: str, folder: Path) -> tuple[Path, Path]:
    """A random-initialised so-vits model folder and ContentVec folder of the given size."""
    import torch
    from transformers import HubertConfig

    from ..voice import sovits_compat
    from ..voice.contentvec import _model_class
    from ..voice.sovits_loader import fork_generator_kwargs
    from ..voice.voice_train import make_config, write_json

    sovits_compat.import_fork()
    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

    torch.manual_seed(0)
    if size == "tiny":
        hub = HubertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(16,) * 7,
            classifier_proj_size=16,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
        )
    else:
        hub = HubertConfig(classifier_proj_size=256)  # HuBERT-base = ContentVec's size
    cv = folder / f"contentvec-{size}"
    _model_class()(hub).save_pretrained(str(cv))
    config = make_config(size, hub.hidden_size, False, "bench", layout="4.1")
    model = folder / f"sovits-{size}"
    model.mkdir()
    write_json(model / "config.json", config)
    d = config["data"]
    net = SynthesizerTrn(
        d["filter_length"] // 2 + 1, config["train"]["segment_size"] // d["hop_length"], **fork_generator_kwargs(config)
    )
    torch.save({"model": net.state_dict(), "iteration": 0, "optimizer": None, "learning_rate": 1e-4}, model / "G_0.pth")
    return model, cv


def time_voice(model: Path, contentvec: Path, methods: list[str], audio) -> dict:
    from ..voice.sovits_vc import SovitsVoice

    t = time.perf_counter()
    voice = SovitsVoice(model, contentvec)
    warm_sr = 16000
    tone = (0.3 * np.sin(2 * np.pi * 160 * np.arange(int(0.4 * warm_sr)) / warm_sr)).astype(np.float32)
    voice.convert(tone, warm_sr)  # the stage's warm-up in load()
    load_s = time.perf_counter() - t
    seconds = sum(len(y) / sr for y, sr, _ in audio)
    rows = {}
    for method in methods:
        voice.convert(tone, warm_sr, f0_method=method)  # an estimator's own first-use cost is not per sentence
        times = []
        for y, sr, _ in audio:
            t = time.perf_counter()
            voice.convert(y, sr, f0_method=method)
            times.append(time.perf_counter() - t)
        rows[method] = {
            "rtf": sum(times) / seconds,
            "first_s": times[0],
            "first_audio_s": len(audio[0][0]) / audio[0][1],
        }
    return {
        "sample_rate": voice.sample_rate,
        "load_s": load_s,
        "audio_s": seconds,
        "methods": rows,
        "checkpoint": str(voice.files.checkpoint),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines bench voice",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--sizes", default="tiny,full", help="random-weight models to time: tiny, full (comma list)")
    ap.add_argument("--methods", default="dio,harvest,crepe-tiny,parselmouth", help="F0 methods (comma list; fcpe too)")
    ap.add_argument("--model", default="", help="time this so-vits model folder instead (needs --contentvec)")
    ap.add_argument("--contentvec", default="", help="ContentVec folder/file for --model")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--config",
        default="",
        choices=("", "dlb"),
        help="dlb: a random so-vits 4.0 voice at DL-B's config.json sizes in torch fp32, ONNX fp32 and ONNX int8 "
        "(RTF, first audio, peak RSS; --methods default: voice.sovits.f0_method's default)",
    )
    ap.add_argument("--keep", default="", help="with --config dlb: build / reuse the voice and exports in this folder")
    args = ap.parse_args(argv)
    if args.config == "dlb":
        return _dlb(args)

    import torch

    torch.set_num_threads(max(1, args.threads))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    audio = sentences_audio()
    results: dict[str, dict] = {}
    if args.model:
        if not args.contentvec:
            print("bench voice: --model needs --contentvec", file=sys.stderr)
            return 2
        results["model"] = time_voice(Path(args.model), Path(args.contentvec), methods, audio)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
            for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
                if size not in ("tiny", "full"):
                    print(f"bench voice: unknown size {size!r} (tiny, full)", file=sys.stderr)
                    return 2
                folder = Path(tmp) / size
                folder.mkdir()
                model, cv = build_random_voice(size, folder)
                results[size] = time_voice(model, cv, methods, audio)
    report = {
        "threads": torch.get_num_threads(),
        "sentences": len(audio),
        "audio_s": sum(len(y) / sr for y, sr, _ in audio),
        "models": results,
    }
    tiny = results.get("tiny", {}).get("methods", {}).get("dio")
    if tiny:
        report["target"] = {
            "tiny_dio_rtf_max": TARGET_RTF_TINY_DIO,
            "tiny_dio_rtf": tiny["rtf"],
            "met": tiny["rtf"] <= TARGET_RTF_TINY_DIO,
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"so-vits conversion, {report['sentences']} sentences, {report['audio_s']:.1f} s of speech, "
        f"{report['threads']} torch threads"
    )
    print(f"{'model':<8}{'rate':>7}{'load s':>9}  {'f0 method':<13}{'RTF':>7}{'first sentence s':>18}")
    for name, r in results.items():
        for i, (method, row) in enumerate(r["methods"].items()):
            head = f"{name:<8}{r['sample_rate']:>7}{r['load_s']:>9.2f}" if i == 0 else " " * 24
            print(f"{head}  {method:<13}{row['rtf']:>7.3f}{row['first_s']:>10.2f} (of {row['first_audio_s']:.1f} s)")
    if "target" in report:
        t = report["target"]
        print(
            f"target: tiny model with dio RTF <= {t['tiny_dio_rtf_max']}: {t['tiny_dio_rtf']:.3f} "
            f"({'met' if t['met'] else 'NOT met'})"
        )
    return 0


def _dlb(args) -> int:
    from .voice_runtimes import print_table, run_dlb

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.methods == "dio,harvest,crepe-tiny,parselmouth":  # the default list: the default only, big model
        from ..settings import SOVITS_F0_DEFAULT

        methods = [SOVITS_F0_DEFAULT]
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
        results = run_dlb(methods, args.threads, folder, log=log)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-voice-dlb-") as tmp:
            results = run_dlb(methods, args.threads, Path(tmp), log=log)
    if args.json:
        print(json.dumps({"config": "dlb", "threads": args.threads, "runtimes": results}, indent=2))
    else:
        print(f"so-vits 4.0 at DL-B's sizes (random weights), {args.threads} threads")
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

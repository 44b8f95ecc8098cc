"""``bench voice --config dlb``: so-vits at DL-B's sizes in PyTorch fp32, ONNX Runtime fp32 and int8.

A random-initialised so-vits-svc 4.0 voice at DL-B's ``config.json`` sizes
(``pipelines/testing/sovits_random.py``: 44.1 kHz, HuBERT-base ContentVec) converts the
benchmark's sentences in each runtime, each in its own process (so peak RSS is its own):

* ``rtf``: conversion time of all sentences / their duration (whole sentences);
* ``first_audio_s``: time from the first sentence to its first audio, as the stage sends it
  (the first window, ``voice.sovits.first_window_s`` / ``window_overlap_s``);
* ``first_sentence_s``: the first sentence converted whole (as before windows);
* ``peak_rss_mb``: the process's peak resident memory (load included);
* ``export_s``: the one-off export (ONNX runtimes, first use, in a process of its own before the
  timed one, which then loads the cached graphs without the PyTorch models);
* ``f0_hz_median`` / ``logmel_corr_vs_torch``: the F0 the generator received, and the log-mel
  correlation of the output with PyTorch's (the listening-free proxy; ≥ 0.98 wanted).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RUNTIMES = ("torch", "onnx-fp32", "onnx-int8")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(runtime: str, model: Path, contentvec: Path, methods: list[str], threads: int, out: Path) -> dict:
    """Time one runtime in this process; writes the outputs (npz) next to ``out`` for comparisons."""
    import torch

    from ..settings import SovitsSettings
    from ..voice.sovits_windows import window_hop, windowed
    from .voice import sentences_audio

    torch.set_num_threads(max(1, threads))
    audio = sentences_audio()
    t0 = time.perf_counter()
    export_s = 0.0
    if runtime == "torch":
        from ..voice.sovits_vc import SovitsVoice

        voice = SovitsVoice(model, contentvec)
    else:
        from ..voice.sovits_onnx.runtime import OnnxSovitsVoice

        lines: list[str] = []
        voice = OnnxSovitsVoice(model, contentvec, int8=runtime == "onnx-int8", threads=threads, log=lines.append)
        if lines:
            export_s = time.perf_counter() - t0
    sr_warm = 16000
    tone = (0.3 * np.sin(2 * np.pi * 160 * np.arange(int(0.4 * sr_warm)) / sr_warm)).astype(np.float32)
    voice.convert(tone, sr_warm)
    load_s = time.perf_counter() - t0 - export_s
    d = SovitsSettings()
    rate = voice.sample_rate
    seconds = sum(len(y) / sr for y, sr, _ in audio)
    rows = {}
    outputs = {}
    for method in methods:
        voice.convert(tone, sr_warm, f0_method=method)
        times, f0s = [], []
        for i, (y, sr, _) in enumerate(audio):
            t = time.perf_counter()
            converted = voice.convert(y, sr, f0_method=method)
            times.append(time.perf_counter() - t)
            f0s.append(float(np.median(voice.last_f0)) if voice.last_f0 is not None else 0.0)
            outputs[f"{method}_{i}"] = converted
        from ..media.audio import resample

        x = resample(audio[0][0], audio[0][1], rate)
        hop, overlap = window_hop(rate, d.first_window_s, d.window_overlap_s)
        t = time.perf_counter()
        next(windowed(x, lambda w: voice.convert(w, rate, limit=False, f0_method=method), hop, overlap))
        first_audio = time.perf_counter() - t
        rows[method] = {
            "rtf": sum(times) / seconds,
            "first_sentence_s": times[0],
            "first_audio_s": first_audio,
            "f0_hz_median": float(np.median(f0s)),
        }
    np.savez(out.with_suffix(".npz"), **outputs)
    result = {
        "runtime": runtime,
        "sample_rate": rate,
        "audio_s": seconds,
        "load_s": load_s,
        "export_s": export_s,
        "peak_rss_mb": _peak_rss_mb(),
        "methods": rows,
    }
    out.write_text(json.dumps(result))
    return result


def log_mel(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=80)
    return np.log(np.maximum(mel, 1e-5))


def run_dlb(methods: list[str], threads: int, folder: Path, runtimes=RUNTIMES, log=print) -> dict:
    """Build the DL-B-size voice in ``folder`` and time each runtime in a subprocess."""
    from ..testing.sovits_random import write_dlb_voice

    model, cv = folder / "sovits-dlb", folder / "contentvec"
    if not (model / "G_0.pth").is_file():
        log("building a random so-vits 4.0 voice at DL-B's sizes …")
        model, cv = write_dlb_voice(folder)
    results = {}
    for rt in runtimes:
        export_s = 0.0
        if rt != "torch":  # the one-off export in its own process: the timed one loads from the cache
            log(f"exporting {rt} (first use; cached after) …")
            t = time.perf_counter()
            prep = [sys.executable, "-m", "pipelines.bench.voice_runtimes", "prepare-" + rt, str(model), str(cv)]
            subprocess.run(prep + ["", str(threads), str(folder / "prepare.json")], capture_output=True, text=True)
            export_s = time.perf_counter() - t
        log(f"timing {rt} …")
        out = folder / f"result-{rt}.json"
        cmd = [sys.executable, "-m", "pipelines.bench.voice_runtimes", rt, str(model), str(cv), ",".join(methods)]
        cmd += [str(threads), str(out)]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            results[rt] = {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
            continue
        results[rt] = json.loads(out.read_text())
        results[rt]["export_s"] = export_s
    ref = folder / "result-torch.npz"
    if ref.is_file():
        base = np.load(ref)
        for rt in runtimes:
            p = folder / f"result-{rt}.npz"
            if rt == "torch" or not p.is_file() or "methods" not in results.get(rt, {}):
                continue
            got = np.load(p)
            rate = results[rt]["sample_rate"]
            for method, row in results[rt]["methods"].items():
                keys = [k for k in base.files if k.startswith(method + "_")]
                a = np.concatenate([log_mel(base[k], rate).ravel() for k in keys])
                b = np.concatenate([log_mel(got[k], rate).ravel() for k in keys])
                row["logmel_corr_vs_torch"] = float(np.corrcoef(a, b)[0, 1])
                row["logmel_dist_vs_torch"] = float(np.mean(np.abs(a - b)))
    return results


def print_table(results: dict) -> None:
    print(
        f"{'runtime':<11}{'f0':<8}{'RTF':>7}{'first audio s':>15}{'1st sentence s':>16}{'peak RSS MB':>13}"
        f"{'load s':>8}{'export s':>10}{'corr':>7}"
    )
    for rt, r in results.items():
        if "error" in r:
            print(f"{rt:<11}failed: {r['error']}")
            continue
        for method, row in r["methods"].items():
            corr = row.get("logmel_corr_vs_torch")
            print(
                f"{rt:<11}{method:<8}{row['rtf']:>7.3f}{row['first_audio_s']:>15.2f}{row['first_sentence_s']:>16.2f}"
                f"{r['peak_rss_mb']:>13.0f}{r['load_s']:>8.1f}{r['export_s']:>10.0f}"
                f"{'' if corr is None else f'{corr:.3f}':>7}"
            )


if __name__ == "__main__":  # the per-runtime worker process
    rt, model, cv, methods, threads, out = sys.argv[1:7]
    if rt.startswith("prepare-"):
        from ..voice.sovits_onnx.runtime import OnnxSovitsVoice

        OnnxSovitsVoice(Path(model), Path(cv), int8=rt.endswith("int8"), threads=int(threads), log=lambda line: None)
        sys.exit(0)
    worker(rt, Path(model), Path(cv), [m for m in methods.split(",") if m], int(threads), Path(out))

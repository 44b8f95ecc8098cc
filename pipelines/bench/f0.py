"""``python -m pipelines bench f0``: the F0 estimators on the same speech, for speed and accuracy.

The speech is the base voice's own (espeak-ng, the benchmark sentences of ``bench voice``),
re-synthesised by WORLD on a *known* F0 contour (``truth_speech``): its spectral envelope and
aperiodicity are espeak's, its voicing is espeak's (``truth_voicing``), and its F0 is a smooth contour (the speaker's
median, a declination of 4 semitones over the sentence and a 1.3 Hz intonation swing of ±1.5
semitones) that none of the estimators produced.  Each method (``voice.sovits.f0_method``) runs
at the model rate and hop of DL-B's so-vits config (44.1 kHz, hop 512) and is scored per frame:

* ``rtf``: estimation time / audio duration, the speech cut in ``PIECE_S`` pieces as the
  conversion calls the estimator (first-sentence windows, voiced stretches), so per-call costs count;
* ``gpe``: gross pitch error, share of frames voiced in both with an error over 20 %;
* ``vde``: voicing decision error, share of all frames voiced in one and not the other
  (``missed_voiced``: the part of it where the truth is voiced);
* ``cents_median`` / ``cents_p90``: the error on frames voiced in both, in cents.

``default`` is the most accurate method (lowest ``gpe + vde``) whose ``rtf`` stays within
``F0_RTF_BUDGET`` — the rule ``voice.sovits.f0_method``'s default was chosen by.  The whole so-vits
conversion is allowed a real-time factor of 0.3 (issue #18), and at DL-B's sizes the two networks
alone take about 0.35 in int8 on 2 cores (``bench voice --config dlb``), so the F0 may add only a
few percent: 0.02.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

SAMPLE_RATE, HOP = 44100, 512  # DL-B's so-vits config (data.sampling_rate, data.hop_length)
F0_RTF_BUDGET = 0.02
#: timed on pieces as long as the conversion's first-sentence windows (1.0 s + 0.2 s context each
#: side) with 0.2 s of silence padding: per-call costs count as they do in a conversion
PIECE_S = 1.8
METHODS = ("dio", "harvest", "parselmouth", "crepe-tiny", "fcpe")


def known_contour(voiced: np.ndarray, base_hz: float, frame_s: float) -> np.ndarray:
    """The truth F0 (Hz, 0 unvoiced): the speaker's median with declination and a slow swing."""
    n = len(voiced)
    t = np.arange(n) * frame_s
    semis = np.linspace(2.0, -2.0, n) + 1.5 * np.sin(2 * np.pi * 1.3 * t)
    return np.where(voiced, base_hz * 2.0 ** (semis / 12.0), 0.0)


def truth_voicing(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, sr: int) -> np.ndarray:
    """Frames re-synthesised as voiced: harvest found a period there, the band below 3 kHz is mostly
    periodic (D4C aperiodicity < 0.5) and the frame is within 45 dB of the loudest; the rest are
    re-synthesised as noise (harvest alone calls ~94 % of espeak's frames voiced, pauses included)."""
    bins = max(1, int(3000.0 / (sr / 2) * (ap.shape[1] - 1)))
    periodic = ap[:, :bins].mean(axis=1) < 0.5
    level = 10 * np.log10(sp.sum(axis=1) + 1e-20)
    return (f0 > 0) & periodic & (level > level.max() - 45.0)


def truth_speech(sentences, sr: int = SAMPLE_RATE, hop: int = HOP) -> list[tuple[np.ndarray, np.ndarray]]:
    """(audio at ``sr``, truth F0 per ``hop`` frame) for each (samples, rate, text) sentence."""
    import pyworld

    from ..media.audio import resample

    period_ms = 1000.0 * hop / sr
    out = []
    for y, rate, _ in sentences:
        x = resample(np.asarray(y, np.float32), int(rate), sr).astype(np.float64)
        f0, t = pyworld.harvest(x, sr, f0_floor=60.0, f0_ceil=800.0, frame_period=period_ms)
        sp = pyworld.cheaptrick(x, f0, t, sr)
        ap = pyworld.d4c(x, f0, t, sr)
        voiced = truth_voicing(f0, sp, ap, sr)
        if not voiced.any():
            continue
        truth = known_contour(voiced, float(np.median(f0[voiced])), period_ms / 1000.0)
        speech = pyworld.synthesize(truth, sp, ap, sr, frame_period=period_ms)
        speech = (0.5 * speech / max(1e-9, float(np.max(np.abs(speech))))).astype(np.float32)
        n_frames = len(speech) // hop
        out.append((speech, np.pad(truth, (0, max(0, n_frames - len(truth))))[:n_frames]))
    return out


def score(est: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per-frame errors of an estimate (Hz, 0 unvoiced) against the truth."""
    n = min(len(est), len(truth))
    est, truth = np.asarray(est[:n], np.float64), np.asarray(truth[:n], np.float64)
    ve, vt = est > 0, truth > 0
    both = ve & vt
    cents = 1200.0 * np.abs(np.log2(est[both] / truth[both])) if both.any() else np.array([1200.0])
    gross = np.abs(est[both] - truth[both]) > 0.2 * truth[both]
    return {
        "frames": float(n),
        "both_voiced": float(both.sum()),
        "gross": float(gross.sum()),
        "vd_errors": float((ve != vt).sum()),
        "misses": float((vt & ~ve).sum()),
        "cents": cents,
    }


def run(methods, sentences, sr: int = SAMPLE_RATE, hop: int = HOP, repeats: int = 2, log=print) -> dict:
    from ..voice import sovits_compat
    from ..voice.f0_estimate import F0Estimator

    sovits_compat.import_fork()
    sovits_compat.ensure_torchaudio()
    speech = truth_speech(sentences, sr, hop)
    seconds = sum(len(y) / sr for y, _ in speech)
    rows: dict[str, dict] = {}
    for method in methods:
        est = F0Estimator(sr, hop, family="4.0")
        try:
            est.raw(speech[0][0][: sr // 2], method)  # first use: model loads, allocations
        except Exception as exc:  # a missing optional estimator: reported, the others still run
            rows[method] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  {method}: unavailable ({exc})")
            continue
        parts = [(est.raw(y, method), truth) for y, truth in speech]
        pieces = [y[a : a + int(PIECE_S * sr)] for y, _ in speech for a in range(0, len(y), int(PIECE_S * sr))]
        best = float("inf")
        for _ in range(max(1, repeats)):
            t = time.perf_counter()
            for piece in pieces:
                est.raw(piece, method)
            best = min(best, time.perf_counter() - t)
        scores = [score(e, truth) for e, truth in parts]
        both = sum(s["both_voiced"] for s in scores)
        cents = np.concatenate([s["cents"] for s in scores])
        frames = max(1.0, sum(s["frames"] for s in scores))
        rows[method] = {
            "rtf": best / seconds,
            "gpe": sum(s["gross"] for s in scores) / max(1.0, both),
            "vde": sum(s["vd_errors"] for s in scores) / frames,
            "missed_voiced": sum(s["misses"] for s in scores) / frames,
            "cents_median": float(np.median(cents)),
            "cents_p90": float(np.percentile(cents, 90)),
        }
        log(f"  {method}: done")
    return {
        "sample_rate": sr,
        "hop": hop,
        "audio_s": seconds,
        "rtf_budget": F0_RTF_BUDGET,
        "methods": rows,
        "default": pick_default(rows),
    }


def pick_default(rows: dict[str, dict], budget: float = F0_RTF_BUDGET) -> str:
    """The most accurate method (lowest gpe + vde) within the real-time budget; else the fastest."""
    ok = {m: r for m, r in rows.items() if "error" not in r}
    if not ok:
        return ""
    within = {m: r for m, r in ok.items() if r["rtf"] <= budget}
    if not within:
        return min(ok, key=lambda m: ok[m]["rtf"])
    return min(within, key=lambda m: (within[m]["gpe"] + within[m]["vde"], within[m]["rtf"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines bench f0", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--methods", default=",".join(METHODS), help="F0 methods (comma list)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (crepe, fcpe)")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes per method (best kept)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    from ..voice.f0_estimate import F0_METHODS

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in F0_METHODS]
    if bad:
        print(f"bench f0: unknown method {bad[0]!r} (one of {', '.join(F0_METHODS)})", file=sys.stderr)
        return 2
    import torch

    from ..bench.voice import sentences_audio

    torch.set_num_threads(max(1, args.threads))
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    report = run(methods, sentences_audio(), repeats=args.repeats, log=log)
    report["threads"] = args.threads
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"F0 on {report['audio_s']:.1f} s of espeak speech re-synthesised on a known contour, "
        f"{report['sample_rate']} Hz hop {report['hop']}, {args.threads} threads"
    )
    print(f"{'method':<13}{'RTF':>8}{'GPE %':>8}{'VDE %':>8}{'missed %':>10}{'cents med':>11}{'cents p90':>11}")
    for m, r in report["methods"].items():
        if "error" in r:
            print(f"{m:<13}unavailable: {r['error']}")
            continue
        print(
            f"{m:<13}{r['rtf']:>8.4f}{100 * r['gpe']:>8.1f}{100 * r['vde']:>8.1f}{100 * r['missed_voiced']:>10.1f}"
            f"{r['cents_median']:>11.1f}{r['cents_p90']:>11.1f}"
        )
    print(f"default (most accurate with RTF <= {F0_RTF_BUDGET}): {report['default']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

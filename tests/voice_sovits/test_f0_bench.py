"""bench f0: speech re-synthesised on a known F0, the scores, and the rule that picked the default."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.bench import f0 as bench_f0
from pipelines.settings import SOVITS_F0_DEFAULT, SovitsSettings
from pipelines.voice import sovits_compat
from pipelines.voice.f0_estimate import F0Estimator, interpolate_f0


@pytest.fixture(scope="module")
def speech():
    from pipelines.bench.voice import sentences_audio

    sovits_compat.import_fork()
    y, sr, text = sentences_audio()[0]
    silence = np.zeros(int(0.4 * sr), np.float32)
    return bench_f0.truth_speech([(np.concatenate([silence, y, silence]), sr, text)])[0]


def test_truth_follows_the_known_contour_and_leaves_pauses_unvoiced(speech):
    audio, truth = speech
    frame_s = bench_f0.HOP / bench_f0.SAMPLE_RATE
    assert len(truth) == len(audio) // bench_f0.HOP
    pause = int(0.3 / frame_s)
    assert not truth[:pause].any() and not truth[-pause:].any()  # silence is never "voiced"
    voiced = truth > 0
    assert 0.3 < voiced.mean() < 0.95
    # the contour swings by semitones (declination + intonation), it is not a flat line
    semis = 12 * np.log2(truth[voiced] / np.median(truth[voiced]))
    assert semis.max() - semis.min() > 2.0


def test_an_estimator_scores_well_and_a_wrong_one_badly(speech):
    audio, truth = speech
    est = F0Estimator(bench_f0.SAMPLE_RATE, bench_f0.HOP, family="4.0").raw(audio, "parselmouth")
    good = bench_f0.score(est, truth)
    assert good["gross"] / good["both_voiced"] < 0.05
    assert np.median(good["cents"]) < 30
    wrong = bench_f0.score(est * 1.5, truth)  # a fifth off everywhere: every voiced frame a gross error
    assert wrong["gross"] == wrong["both_voiced"] > 0
    silent = bench_f0.score(np.zeros_like(est), truth)
    assert silent["vd_errors"] == silent["misses"] == float((truth > 0).sum())


def test_the_default_is_the_most_accurate_method_within_the_budget():
    rows = {
        "slow_best": {"rtf": 0.4, "gpe": 0.0, "vde": 0.01},
        "fast_ok": {"rtf": 0.01, "gpe": 0.0, "vde": 0.12},
        "fast_worse": {"rtf": 0.005, "gpe": 0.01, "vde": 0.20},
        "broken": {"error": "ModuleNotFoundError"},
    }
    assert bench_f0.pick_default(rows) == "fast_ok"
    assert bench_f0.pick_default(rows, budget=1.0) == "slow_best"
    assert bench_f0.pick_default({"a": {"rtf": 0.2, "gpe": 0, "vde": 0}, "b": {"rtf": 0.1, "gpe": 1, "vde": 1}}) == "b"
    assert SovitsSettings().f0_method == SOVITS_F0_DEFAULT == "parselmouth"


def test_f0_uv_fills_unvoiced_frames_and_flags_them():
    f0 = np.array([0, 0, 100, 0, 200, 0], np.float64)
    filled, uv = interpolate_f0(f0, 512, 44100)
    assert uv.tolist() == [0, 0, 1, 0, 1, 0]
    assert filled.tolist() == pytest.approx([100, 100, 100, 150, 200, 200])

"""The first sentence in short crossfaded windows: no seam, streamed as separate chunks."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.messages import AudioChunk
from pipelines.persona import Persona
from pipelines.settings import Settings
from pipelines.testing.harness import run_stage
from pipelines.voice.sovits_windows import fade, window_hop, windowed


def test_windows_of_an_identity_conversion_rebuild_the_input_exactly():
    x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    pieces = list(windowed(x, lambda w: w, hop=1764, overlap=300))
    assert [a for a, _ in pieces] == list(range(0, 10_000, 1764))[: len(pieces)]
    assert np.allclose(np.concatenate([y for _, y in pieces]), x, atol=1e-6)
    w = fade(64)
    assert np.allclose(w + w[::-1], 1.0)


def test_the_hop_is_whole_video_frames():
    hop, overlap = window_hop(44100, 1.0, 0.1)
    assert hop % 1764 == 0 and overlap == 4410
    hop, _ = window_hop(16000, 0.5, 0.1)
    assert hop % 640 == 0


def _seam_jumps(y: np.ndarray, bounds: list[int], half: int = 256) -> list[tuple[float, float]]:
    """(jump at each boundary, the largest step of the signal around it, the boundary itself excluded)."""
    out = []
    d = np.abs(np.diff(y))
    for b in bounds:
        local = np.concatenate([d[max(0, b - half) : b - 2], d[b + 1 : b + half]])
        out.append((float(d[b - 1]), float(local.max())))
    return out


def test_the_converted_windows_join_without_a_seam(onnx_voice, speech):
    samples, sr = speech
    from pipelines.media.audio import resample

    rate = onnx_voice.sample_rate
    x = resample(samples, sr, rate)
    hop, overlap = window_hop(rate, 1.0, 0.2)
    pieces = list(windowed(x, lambda w: onnx_voice.convert(w, rate, limit=False), hop, overlap))
    assert len(pieces) >= 3
    y = np.concatenate([p for _, p in pieces])
    assert len(y) == len(x) and np.sqrt(np.mean(y**2)) > 1e-3
    bounds = [a for a, _ in pieces[1:]]
    for jump, local in _seam_jumps(y, bounds):
        assert jump <= local + 1e-6, "a sample jump at a crossfade beyond the signal's own local range"
    from .conftest import log_mel_corr

    whole = onnx_voice.convert(x, rate, limit=False)
    # the natural spread of a conversion: the same sentence converted 0.1 s later (other alignment, noise)
    lag = rate // 10
    shifted = onnx_voice.convert(np.concatenate([np.zeros(lag, np.float32), x])[: len(x)], rate, limit=False)
    baseline = log_mel_corr(whole[:-lag], shifted[lag:], rate)
    reversed_ = onnx_voice.convert(x[::-1].copy(), rate, limit=False)[::-1]
    got = log_mel_corr(whole, y, rate)
    assert got >= baseline - 0.03, "the windows convert the speech as closely as the whole sentence does"
    assert got > log_mel_corr(whole, reversed_, rate) + 0.1, "the measure tells other speech apart"


def test_without_crossfade_the_seam_check_would_see_a_jump():
    """The seam measure catches a hard cut between two different signals (it is not vacuous)."""
    t = np.arange(4000) / 16000
    a = 0.5 * np.sin(2 * np.pi * 200 * t)
    b = 0.5 * np.sin(2 * np.pi * 200 * t + 2.5)
    y = np.concatenate([a[:2000], b[2000:]])
    ((jump, local),) = _seam_jumps(y, [2000])
    assert jump > local


@pytest.fixture()
def onnx_stage(onnx_voice_files):
    from pipelines.voice.sovits_vc import SovitsConversion

    model, cv = onnx_voice_files
    s = Settings()
    s.device = "cpu"
    s.voice.vc_backend = "sovits"
    s.voice.sovits.model_dir, s.voice.sovits.contentvec_dir = str(model), str(cv)
    s.voice.sovits.runtime, s.voice.sovits.int8 = "onnx", False
    s.voice.sovits.first_window_s, s.voice.sovits.window_overlap_s = 0.5, 0.1
    stage = SovitsConversion.from_settings(s, Persona.load(s.persona_dir))
    stage.load()
    yield stage
    stage.close()


def test_the_stage_streams_the_first_sentence_in_windows_and_later_ones_whole(onnx_stage, speech):
    from pipelines.voice.sovits_onnx.runtime import OnnxSovitsVoice

    samples, sr = speech
    assert isinstance(onnx_stage.voice, OnnxSovitsVoice)
    phon = ((0.05, "h"), (0.9, "a"), (1.7, "o"))
    msgs = [AudioChunk(1, samples=samples, sample_rate=sr, text="first", phonemes=phon)]
    msgs.append(AudioChunk(1, samples=samples, sample_rate=sr, text="second"))
    out = run_stage(onnx_stage, msgs, end_turns=False)
    rate = onnx_stage.voice.sample_rate
    first = [m for m in out if m.text != "second"]
    assert len(first) >= 3 and out[-1].text == "second" and len(out) == len(first) + 1
    assert first[0].text == "first" and all(m.text == "" for m in first[1:])
    assert sum(len(m.samples) for m in first) == len(out[-1].samples) == round(len(samples) * rate / sr)
    assert all(len(m.samples) % (rate // 25) == 0 for m in first[:-1]), "whole video frames per window"
    starts = np.cumsum([0] + [m.duration for m in first])
    got = sorted((round(s + t, 3), p) for m, s in zip(first, starts) for t, p in m.phonemes)
    assert got == [(round(t, 3), p) for t, p in phon], "the phoneme times stay where they were"
    # the next turn windows its first sentence again
    again = run_stage(onnx_stage, [AudioChunk(2, samples=samples, sample_rate=sr, text="x")], end_turns=True)
    assert len([m for m in again if isinstance(m, AudioChunk)]) >= 3

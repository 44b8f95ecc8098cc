"""WarpRenderer: audio is the clock, the mouth follows loudness, is closed on silence, frames continue."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.face.avatar import landmarks as L
from pipelines.face.warp.envelope import frame_levels
from pipelines.messages import AudioChunk, TurnEnd, VideoChunk
from pipelines.stage import TurnContext
from pipelines.testing.harness import run_stage

SR = 22050


def _am_tone(seconds: float, sr: int = SR, mod_hz: float = 1.7, lo: float = 0.02, hi: float = 0.5):
    """A voiced-like tone whose amplitude swings between ``lo`` and ``hi``."""
    t = np.arange(int(seconds * sr)) / sr
    amp = lo + (hi - lo) * (0.5 - 0.5 * np.cos(2 * np.pi * mod_hz * t))
    carrier = np.sin(2 * np.pi * 160 * t) + 0.4 * np.sin(2 * np.pi * 320 * t + 0.3)
    return (amp * carrier / 1.4).astype(np.float32)


def _render(renderer, samples, turn_id=1, sr=SR):
    """One sentence through a real worker: the chunks joined, and the turn's end (the stage's facts)."""
    *out, end = run_stage(renderer, [AudioChunk(turn_id, samples, sr, "x")], keep_turn_ends=True)
    assert isinstance(end, TurnEnd)
    assert out and all(isinstance(c, VideoChunk) for c in out)
    # streamed in short chunks, each with exactly its frames' share of the audio
    for c in out:
        assert len(c.frames) <= 10
        assert len(c.audio) == pytest.approx(len(c.frames) * sr / 25, abs=1)
    v = VideoChunk(
        turn_id,
        np.concatenate([c.frames for c in out]),
        out[0].fps,
        np.concatenate([c.audio for c in out]),
        sr,
        out[0].text,
    )
    return v, end


def _mouth_box(renderer, pad=0.1):
    pts = renderer.avatar.landmarks[0]
    w = pts[L.MOUTH_RIGHT][0] - pts[L.MOUTH_LEFT][0]
    xs = pts[L.LIPS_OUTER][:, 0]
    ys = pts[L.LIPS_OUTER][:, 1]
    return (int(xs.min() - pad * w), int(ys.min() - pad * w), int(xs.max() + pad * w), int(ys.max() + 0.6 * w))


@pytest.mark.parametrize("seconds,sr", [(0.01, 16000), (1.234, 22050), (2.0, 44100), (0.5201, 24000)])
def test_frame_count_and_audio_follow_the_audio_duration(renderer, seconds, sr):
    x = _am_tone(seconds, sr)
    v, _ = _render(renderer, x, turn_id=100 + sr, sr=sr)
    n = max(1, round(len(x) / sr * 25))
    assert v.fps == 25 and len(v.frames) == n
    assert v.frames.shape[1:] == renderer.avatar.frames.shape[1:] and v.frames.dtype == np.uint8
    assert v.sample_rate == sr
    assert len(v.audio) == round(n * sr / 25)  # exactly N / fps seconds
    assert abs(v.duration - len(v.audio) / sr) < 1e-9
    k = min(len(x), len(v.audio))
    np.testing.assert_array_equal(v.audio[:k], x[:k])  # the audio itself is kept
    assert not v.audio[k:].any()  # padding is silence


def test_mouth_opening_follows_loudness(renderer):
    x = _am_tone(4.0)
    v, _ = _render(renderer, x, turn_id=2)
    opens = renderer.last_openings
    level = 10 ** (frame_levels(v.audio, SR, 25, len(v.frames)) / 20)  # RMS per frame
    r = np.corrcoef(opens, level)[0, 1]
    assert r > 0.8, f"opening vs loudness Pearson r = {r:.3f}"
    assert opens.max() > 0.7 and opens.min() < 0.35
    # and the pictures show it: how much darker the mouth region gets than in the idle frame
    # (the open mouth's cavity) tracks the opening
    x1, y1, x2, y2 = _mouth_box(renderer)

    def luma(img):
        return img[y1:y2, x1:x2].astype(np.float32).mean(-1)

    dark = np.array(
        [np.clip(luma(renderer.render_frame(i, 0.0)) - luma(f), 0, None).sum() for i, f in enumerate(v.frames)]
    )
    r_img = np.corrcoef(opens, dark)[0, 1]
    assert r_img > 0.9, f"mouth darkening vs opening Pearson r = {r_img:.3f}"


def test_mouth_is_closed_on_silence(renderer):
    speech = _am_tone(1.0, mod_hz=3.0, lo=0.1, hi=0.6)
    silence = np.zeros(SR, np.float32)
    x = np.concatenate([speech, silence, speech])
    v, _ = _render(renderer, x, turn_id=3)
    opens = renderer.last_openings
    assert opens[:25].max() > 0.5 and opens[50:].max() > 0.5
    # the 80 ms loudness window reaches 2 frames into the silence on each side
    quiet = range(28, 48)
    assert all(opens[i] == 0 for i in quiet)
    x1, y1, x2, y2 = _mouth_box(renderer)
    for i in quiet:
        idle = renderer.render_frame(i, 0.0)
        np.testing.assert_array_equal(v.frames[i][y1:y2, x1:x2], idle[y1:y2, x1:x2])
    # while speaking the mouth region differs from the idle frame
    loud = int(np.argmax(opens[:25]))
    assert np.abs(v.frames[loud][y1:y2, x1:x2].astype(int) - renderer.render_frame(loud, 0.0)[y1:y2, x1:x2]).mean() > 3


def test_all_silent_chunk_has_the_mouth_closed_and_idle_motion(renderer):
    v, _ = _render(renderer, np.zeros(int(6 * SR), np.float32), turn_id=4)
    assert not renderer.last_openings.any()
    base = renderer.avatar.frames[0]
    x1, y1, x2, y2 = _mouth_box(renderer)
    # the mouth region of the idle frames is the portrait's, moved only by the sway
    assert min(np.abs(f[y1:y2, x1:x2].astype(int) - base[y1:y2, x1:x2]).mean() for f in v.frames) < 2.0
    # the still portrait does not look frozen: the head sways ...
    diffs = [np.abs(v.frames[i].astype(int) - v.frames[0]).mean() for i in range(0, 150, 10)]
    assert max(diffs) > 0.5
    # ... and blinks: the eye region darkens less (lid over the iris) on some frames
    pts = renderer.avatar.landmarks[0]
    ey0, ey1 = int(pts[L.RIGHT_EYE[0]][1]) - 2, int(pts[L.RIGHT_EYE[1]][1]) + 2
    ex0, ex1 = int(pts[L.RIGHT_EYE[2]][0]), int(pts[L.RIGHT_EYE[3]][0])
    eye_dark = np.array([(f[ey0:ey1, ex0:ex1].mean(-1) < 60).sum() for f in v.frames])
    assert eye_dark.min() < 0.5 * np.median(eye_dark)


def test_frames_continue_across_the_sentences_of_a_turn(renderer):
    a = _am_tone(1.0)
    ctx = TurnContext(5)
    c1 = list(renderer.process(AudioChunk(5, a, SR, "one"), ctx))
    c2 = list(renderer.process(AudioChunk(5, np.zeros(SR // 2, np.float32), SR, "two"), ctx))
    assert c2[0].text == "two"
    v2 = VideoChunk(5, np.concatenate([c.frames for c in c2]), 25.0, np.zeros(1, np.float32), SR)
    n1 = sum(len(c.frames) for c in c1)
    # the second sentence starts where the first ended (idle motion continues), not at frame 0
    np.testing.assert_array_equal(v2.frames[5], renderer.render_frame(n1 + 5, 0.0))
    assert np.abs(v2.frames[5].astype(int) - renderer.render_frame(5, 0.0)).mean() > 0.05
    renderer.end_turn(ctx)
    assert ctx.info["face_frames"] == n1 + len(v2.frames)
    # a new turn starts again at frame 0
    v3, _ = _render(renderer, np.zeros(SR // 5, np.float32), turn_id=6)
    np.testing.assert_array_equal(v3.frames[0], renderer.render_frame(0, 0.0))


def test_rejects_other_messages(renderer):
    from pipelines.messages import Sentence

    with pytest.raises(TypeError, match="AudioChunk"):
        list(renderer.process(Sentence(7, "hi"), TurnContext(7)))

"""Visemes for warp: espeak-ng's phoneme events drive the mouth; measured on the rendered frames' face mesh."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.face.avatar import landmarks as L
from pipelines.face.warp.visemes import (
    CLOSED,
    OPEN,
    ROUNDED,
    SPREAD,
    TEETH,
    classify,
    intervals,
)
from pipelines.messages import AudioChunk, Sentence
from pipelines.stage import TurnContext

TEXT = "Bob bought a big blue map, but Pam paid."


@pytest.fixture(scope="module")
def spoken():
    """The sentence through the real espeak stage and the pass-through voice conversion stage."""
    from pipelines.persona import Persona
    from pipelines.settings import Settings
    from pipelines.voice.espeak_tts import EspeakTTS
    from pipelines.voice.passthrough import NoConversion
    from tests.face_warp.conftest import REPO

    s, p = Settings().replace("language", "en"), Persona.load(REPO / "source" / "default")
    tts = EspeakTTS.from_settings(s, p)
    tts.load()
    (chunk,) = list(tts.process(Sentence(1, TEXT), TurnContext(1)))
    (converted,) = list(NoConversion.from_settings(s, p).process(chunk, TurnContext(1)))
    return chunk, converted


def test_espeak_reports_phoneme_timings_and_conversion_keeps_them(spoken):
    chunk, converted = spoken
    assert isinstance(chunk, AudioChunk) and len(chunk.phonemes) > 15
    times = [t for t, _ in chunk.phonemes]
    assert times == sorted(times) and 0 <= times[0] < 0.1 and times[-1] <= chunk.duration + 0.05
    names = [p for _, p in chunk.phonemes]
    assert sum(classify(p) == CLOSED for p in names) >= 6  # b, b, b, m, b, p, m, p ...
    assert converted.phonemes == chunk.phonemes


def test_phoneme_classes():
    assert [classify(p) for p in ("b", "p", "m", "'a", "aI", "u:", "'0", "w", "i:", "'eI", "f", "v", "s", "_:")] == [
        CLOSED,
        CLOSED,
        CLOSED,
        OPEN,
        OPEN,
        ROUNDED,
        ROUNDED,
        ROUNDED,
        SPREAD,
        SPREAD,
        TEETH,
        TEETH,
        TEETH,
        "rest",
    ]


def test_lips_close_on_bilabials_and_open_on_open_vowels(renderer, spoken):
    _, chunk = spoken
    renderer.reset()
    frames = np.concatenate([c.frames for c in renderer.process(chunk, TurnContext(5))])
    n = len(frames)
    spans = intervals(chunk.phonemes, n / 25)
    centres = (np.arange(n) + 0.5) / 25

    def frames_of(vis):
        return [i for i in range(n) if any(a <= centres[i] < b and v == vis for a, b, v in spans)]

    bilabial, open_ = frames_of(CLOSED), frames_of(OPEN)
    assert len(bilabial) >= 8 and len(open_) >= 8
    # the opening measured on the rendered frames (mediapipe face mesh), not the renderer's target
    measured = {}
    for i in sorted(set(bilabial) | set(open_)):
        pts = L.face_mesh(frames[i])
        assert pts is not None, f"frame {i}: no face found"
        measured[i] = L.mouth_opening(pts)
    rest = L.mouth_opening(renderer.avatar.landmarks[0])
    closed_share = np.mean([measured[i] < rest + 0.03 for i in bilabial])
    open_share = np.mean([measured[i] > rest + 0.08 for i in open_])
    assert closed_share >= 0.8, (closed_share, [round(measured[i], 3) for i in bilabial])
    assert open_share >= 0.8, (open_share, [round(measured[i], 3) for i in open_])
    # eased: no pops, the opening changes by at most MAX_STEP a frame
    assert np.abs(np.diff(renderer.last_openings)).max() <= 0.4 + 1e-6


def test_loudness_only_scales_the_shape(renderer, spoken):
    _, chunk = spoken
    renderer.reset()
    list(renderer.process(chunk, TurnContext(6)))
    loud = renderer.last_openings.copy()
    quiet = AudioChunk(7, chunk.samples * 0.2, chunk.sample_rate, chunk.text, phonemes=chunk.phonemes)
    list(renderer.process(quiet, TurnContext(7)))
    soft = renderer.last_openings
    assert not soft[loud == 0].any()  # the same closures
    assert (soft > 0).sum() >= 0.8 * (loud > 0).sum()  # still speaking (quiet is not silence)
    assert np.corrcoef(loud, soft)[0, 1] > 0.9  # same shape

"""pyttsx3 backend: on Linux it drives the espeakng-loader wheel's libespeak-ng (no system espeak)."""

import sys

import numpy as np
import pytest

from pipelines.media.audio import rms
from pipelines.voice.pyttsx3_tts import Pyttsx3TTS

from .conftest import speak

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the espeak driver of Linux")


@pytest.fixture(scope="module")
def py_tts(settings, persona):
    stage = Pyttsx3TTS.from_settings(settings, persona)
    stage.load()
    return stage


@pytest.mark.parametrize("text", ["今天天气很好我们出去", "The quick brown fox jumps over the lazy dog."])
def test_pyttsx3_speaks_with_speech_length(py_tts, text):
    (chunk,) = speak(py_tts, text)
    assert chunk.sample_rate == 22050 and chunk.samples.dtype == np.float32
    assert 1.0 <= chunk.duration <= 5.0
    assert rms(chunk.samples) > 0.02
    assert chunk.text == text


def test_pyttsx3_and_espeak_share_the_library(py_tts, tts):
    """Alternating both backends in one process: each sentence is whole (same length either way)."""
    texts = ["你好，我是小林，二零二三年三月。", "Hello, I am Lin.", "很高兴认识你。"] * 4
    for text in texts:
        a, _ = py_tts.synthesize(text)
        b = tts.synthesize(text)
        assert len(a) > 0.5 * 22050
        assert abs(len(a) - len(b)) < 0.01 * len(b), text


def test_pyttsx3_normalises_chinese_numbers(py_tts):
    digits, _ = py_tts.synthesize("2023年3月")
    words, _ = py_tts.synthesize("二零二三年三月")
    assert abs(len(digits) - len(words)) < 0.01 * len(words)

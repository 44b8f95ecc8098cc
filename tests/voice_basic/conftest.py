"""Fixtures for the base voice tests: the real espeak-ng library and WORLD converter (no mocks)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.messages import Sentence
from pipelines.persona import Persona
from pipelines.settings import Settings
from pipelines.testing.harness import run_stage


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def persona(settings) -> Persona:
    return Persona.load(settings.persona_dir)


@pytest.fixture(scope="session")
def tts(settings, persona):
    from pipelines.voice.espeak_tts import EspeakTTS

    stage = EspeakTTS.from_settings(settings, persona)
    stage.load()
    return stage


def speak(stage, text: str, turn_id: int = 1):
    """The AudioChunks a tts stage gives for one sentence."""
    return run_stage(stage, [Sentence(turn_id, text)])


def median_f0_praat(samples: np.ndarray, sample_rate: int) -> float:
    """Median F0 (Hz) of voiced frames by Praat's autocorrelation method (independent of WORLD)."""
    import parselmouth

    pitch = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=sample_rate).to_pitch(
        pitch_floor=60.0, pitch_ceiling=800.0
    )
    f = pitch.selected_array["frequency"]
    f = f[f > 0]
    assert len(f) > 10, "too few voiced frames to measure a median F0"
    return float(np.median(f))


@pytest.fixture(scope="session")
def zh_speech(tts):
    (chunk,) = speak(tts, "你好，我是小林，很高兴认识你。今天我们聊一聊这个项目。")
    return chunk


@pytest.fixture(scope="session")
def en_speech(tts):
    (chunk,) = speak(tts, "Hello, I am Lin. Nice to meet you, let us talk about this project today.")
    return chunk

"""Session fixtures for the so-vits tests: a tiny so-vits voice trained for one epoch by our own
``voice-train`` code on synthetic clips, with a tiny random-initialised HuBERT saved as the local
ContentVec folder.  Everything is built offline under pytest's tmp folders."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.persona import Persona
from pipelines.settings import Settings

from .helpers import save_tiny_contentvec, voiced_clip, write_clips


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def contentvec_dir(tmp_path_factory):
    return save_tiny_contentvec(tmp_path_factory.mktemp("contentvec") / "content-vec-tiny")


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips") / "alice", n=5, seconds=1.2)


@pytest.fixture(scope="session")
def trained_voice(tmp_path_factory, clips_dir, contentvec_dir):
    """(TrainResult, log lines) of one epoch of a tiny model: a real so-vits folder."""
    from pipelines.voice.voice_train import TrainOptions, train_voice

    lines: list[str] = []
    out = tmp_path_factory.mktemp("voices") / "alice"
    result = train_voice(
        TrainOptions(
            clips=clips_dir, out=out, contentvec=contentvec_dir, size="tiny", epochs=1, batch_size=5, log=lines.append
        )
    )
    return result, lines


@pytest.fixture(scope="session")
def voice_dir(trained_voice):
    return trained_voice[0].out


@pytest.fixture(scope="session")
def sovits_settings(voice_dir, contentvec_dir, tmp_path_factory):
    s = Settings(output_dir=str(tmp_path_factory.mktemp("out")))
    s.voice.vc_backend = "sovits"
    s.voice.sovits.model_dir = str(voice_dir)
    s.voice.sovits.contentvec_dir = str(contentvec_dir)
    s.device = "cpu"
    # these tests pin the PyTorch path sentence by sentence; tests/voice_onnx covers ONNX and windows
    s.voice.sovits.runtime = "torch"
    s.voice.sovits.first_window_s = 0.0
    return s


@pytest.fixture(scope="session")
def persona(sovits_settings):
    return Persona.load(sovits_settings.persona_dir)


@pytest.fixture(scope="session")
def sovits_stage(sovits_settings, persona):
    from pipelines.voice.sovits_vc import SovitsConversion

    stage = SovitsConversion.from_settings(sovits_settings, persona)
    stage.load()
    yield stage
    stage.close()


@pytest.fixture(scope="session")
def tts_like_sentence():
    """A 1.6 s voiced sentence at espeak's 22050 Hz, F0 130 Hz."""
    return voiced_clip(130.0, 1.6, 22050, seed=7, vibrato=0.0), 22050


def harmonic_score(y: np.ndarray, sr: int, f0: float, n: int = 6) -> float:
    """Mean spectral magnitude at the first ``n`` harmonics of ``f0``, relative to the mean magnitude."""
    import scipy.signal as ss

    freqs, _, z = ss.stft(y, sr, nperseg=4096, noverlap=3072)
    spectrum = np.abs(z).mean(axis=1)
    return float(np.mean([np.interp(k * f0, freqs, spectrum) for k in range(1, n + 1)]) / (spectrum.mean() + 1e-12))

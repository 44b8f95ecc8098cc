"""Fixtures for the so-vits ONNX tests: a tiny random voice in so-vits-svc 4.1's layout with a tiny
HuBERT as its ContentVec (the builders of tests/voice_sovits), and real speech from espeak-ng."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.voice_sovits.helpers import save_tiny_contentvec, voiced_clip
from tests.voice_sovits.original_layout import write_model


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_voice_files(tmp_path_factory):
    """(model folder, ContentVec folder): pristine copies are made per test that writes exports."""
    root = tmp_path_factory.mktemp("tiny-voice")
    return write_model(root / "model", "4.1", seed=3), save_tiny_contentvec(root / "contentvec", seed=1)


@pytest.fixture()
def fresh_voice_files(tiny_voice_files, tmp_path):
    model, cv = tiny_voice_files
    return Path_copy(model, tmp_path / "model"), Path_copy(cv, tmp_path / "contentvec")


def Path_copy(src, dst):  # noqa: N802 - a helper, not a class
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="session")
def torch_voice(tiny_voice_files):
    from pipelines.voice.sovits_vc import SovitsVoice

    model, cv = tiny_voice_files
    return SovitsVoice(model, cv)


@pytest.fixture(scope="session")
def onnx_voice_files(tiny_voice_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-voice-onnx")
    model, cv = tiny_voice_files
    return Path_copy(model, root / "model"), Path_copy(cv, root / "contentvec")


@pytest.fixture(scope="session")
def onnx_voice(onnx_voice_files):
    from pipelines.voice.sovits_onnx.runtime import OnnxSovitsVoice

    return OnnxSovitsVoice(*onnx_voice_files, int8=False, log=lambda line: None)


@pytest.fixture(scope="session")
def int8_voice(onnx_voice_files):
    from pipelines.voice.sovits_onnx.runtime import OnnxSovitsVoice

    return OnnxSovitsVoice(*onnx_voice_files, int8=True, log=lambda line: None)


@pytest.fixture(scope="session")
def speech():
    """(samples, rate) of an espeak-ng sentence (the base voice), else a synthetic voiced sentence."""
    try:
        from pipelines.face.wav2lip.export.calibration import speech_samples

        return speech_samples(None, [("en", "Would you like to hear a short story about the sea?")])[0]
    except Exception:
        return voiced_clip(140.0, 2.5, 22050, seed=5), 22050


def log_mel(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    n_fft = 2048 if sr > 32000 else 1024
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=n_fft // 4, n_mels=80)
    return np.log(np.maximum(mel, 1e-5))


def log_mel_corr(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    return float(np.corrcoef(log_mel(a, sr).ravel(), log_mel(b, sr).ravel())[0, 1])

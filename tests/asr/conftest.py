import numpy as np
import pytest

from pipelines.asr.audio_input import to_mono_16k


def espeak_16k(text: str, voice: str = "en-us", rate: int = 150, pitch: int = 50) -> np.ndarray:
    """Real synthetic speech (espeak-ng from the project's base voice) as 16 kHz float32, the same in
    every run (spoken in a fresh process: espeak-ng's output depends on what it spoke before)."""
    from pipelines.testing.fresh_espeak import fresh_pcm

    pcm, sr = fresh_pcm(text, voice, rate, pitch)
    x = to_mono_16k(pcm.astype(np.float32) / 32768.0, sr)[0]
    loud = np.flatnonzero(np.abs(x) > 1e-3)  # espeak pads each sentence with silence: trim it
    return x[loud[0] : loud[-1] + 1] if len(loud) else x


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16000), np.float32)


@pytest.fixture(scope="session")
def espeak():
    return espeak_16k


@pytest.fixture(scope="session")
def question_wav(tmp_path_factory):
    """'Where do you live?' spoken by espeak-ng, 22.05 kHz mono WAV with half a second of silence around it."""
    import soundfile as sf

    from pipelines.testing.fresh_espeak import fresh_pcm

    pcm, sr = fresh_pcm("Where do you live?", "en-us", 150, 50)
    z = np.zeros(sr // 2, np.float32)
    path = tmp_path_factory.mktemp("wav") / "question.wav"
    sf.write(str(path), np.concatenate([z, pcm.astype(np.float32) / 32768.0, z]), sr, subtype="PCM_16")
    return path

"""Bad input files each give one clear line; a stereo 48 kHz file is mixed down, resampled and recognised."""

import numpy as np
import pytest
import soundfile as sf

from pipelines.asr.audio_input import AudioInputError, read_speech_file
from pipelines.asr.voice_input import VoiceInput
from pipelines.settings import Settings
from tests.asr.conftest import silence


@pytest.fixture(scope="module")
def voice():
    v = VoiceInput(Settings()).load()
    yield v
    v.close()


def one_line_error(fn, *args) -> str:
    with pytest.raises(AudioInputError) as exc:
        fn(*args)
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_empty_file(tmp_path, voice):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    assert "empty (0 bytes)" in one_line_error(voice.recognize_file, p)


def test_header_only_wav_has_no_samples(tmp_path, voice):
    p = tmp_path / "nothing.wav"
    sf.write(str(p), np.zeros(0, np.float32), 16000)
    assert "no audio samples" in one_line_error(voice.recognize_file, p)


def test_silent_file(tmp_path, voice):
    p = tmp_path / "silent.wav"
    sf.write(str(p), silence(2.0), 16000)
    assert "silent" in one_line_error(voice.recognize_file, p)


def test_noise_only_file_has_no_speech(tmp_path, voice):
    p = tmp_path / "noise.wav"
    sf.write(str(p), (0.03 * np.random.default_rng(1).standard_normal(32000)).astype(np.float32), 16000)
    assert "no speech found" in one_line_error(voice.recognize_file, p)


def test_corrupt_file(tmp_path, question_wav, voice):
    p = tmp_path / "corrupt.wav"
    p.write_bytes(b"RIFF\x00\x10\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    msg = one_line_error(voice.recognize_file, p)
    assert "not a readable audio file" in msg and "corrupt.wav" in msg
    q = tmp_path / "text.wav"
    q.write_text("this is not audio")
    assert "not a readable audio file" in one_line_error(voice.recognize_file, q)


def test_8khz_file_is_upsampled_and_recognised(tmp_path, espeak, voice):
    import soxr

    p = tmp_path / "phone.wav"
    x = np.concatenate([silence(0.5), espeak("Where do you live?"), silence(0.5)])
    sf.write(str(p), soxr.resample(x, 16000, 8000), 8000, subtype="PCM_16")
    audio = read_speech_file(p)
    assert audio.sample_rate == 16000 and abs(audio.duration - len(x) / 16000) < 0.01
    assert any("8000 -> 16000" in n for n in audio.notes) and any("upsampled from 8000 Hz" in n for n in audio.notes)
    rec = voice.recognize_file(p)
    assert rec.text == "where do you live"
    assert any("upsampled" in n for n in rec.speech["notes"])


def test_4khz_file_is_refused(tmp_path, espeak, voice):
    import soxr

    p = tmp_path / "toy.wav"
    sf.write(str(p), soxr.resample(espeak("Where do you live?"), 16000, 4000), 4000)
    msg = one_line_error(voice.recognize_file, p)
    assert "4000 Hz" in msg and "8 kHz" in msg


def test_stereo_48k_is_resampled_and_recognised(tmp_path, espeak, voice):
    import soxr

    x = np.concatenate([silence(0.5), espeak("Where do you live?", rate=140), silence(0.5)])
    x48 = soxr.resample(x, 16000, 48000).astype(np.float32)
    p = tmp_path / "stereo48k.wav"
    sf.write(str(p), np.stack([x48, 0.8 * x48], axis=1), 48000)
    audio = read_speech_file(p)
    assert audio.sample_rate == 16000 and audio.samples.ndim == 1
    assert abs(audio.duration - len(x) / 16000) < 0.01
    assert any("mono" in n for n in audio.notes) and any("48000 -> 16000" in n for n in audio.notes)
    rec = voice.recognize_file(p)
    assert rec.text == "where do you live"
    assert rec.speech["audio_s"] == pytest.approx(len(x) / 16000, abs=0.01)

import numpy as np
import pytest

from pipelines.media.audio import as_mono_float32, fit_length, peak_limit, resample
from pipelines.voice.pitch import median_f0, semitones


@pytest.mark.parametrize("sr_in, sr_out", [(22050, 16000), (16000, 44100), (44100, 22050), (22050, 22050)])
def test_resample_keeps_duration_and_pitch(sr_in, sr_out):
    t = np.arange(int(1.5 * sr_in)) / sr_in
    x = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    y = resample(x, sr_in, sr_out)
    assert y.dtype == np.float32
    assert len(y) == round(len(x) * sr_out / sr_in)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spec) * sr_out / len(y)
    assert abs(peak_hz - 440.0) < 2.0


def test_resample_rejects_bad_rates():
    with pytest.raises(ValueError, match="sample rates"):
        resample(np.zeros(10, np.float32), 0, 16000)


def test_format_helpers():
    pcm = np.array([[16384, -16384], [0, 0]], dtype=np.int16)  # (frames, channels)
    np.testing.assert_allclose(as_mono_float32(pcm), [0.0, 0.0])
    np.testing.assert_allclose(as_mono_float32(np.array([16384], np.int16)), [0.5])
    assert len(fit_length(np.ones(5, np.float32), 8)) == 8 and fit_length(np.ones(5, np.float32), 3).sum() == 3
    assert np.abs(peak_limit(np.array([2.0, -4.0], np.float32))).max() <= 0.99
    quiet = np.array([0.1, -0.2], np.float32)
    np.testing.assert_array_equal(peak_limit(quiet), quiet)


def test_median_f0_of_a_tone():
    sr = 16000
    t = np.arange(sr) / sr
    x = 0.5 * np.sin(2 * np.pi * 200.0 * t)
    assert abs(semitones(median_f0(x, sr), 200.0)) < 0.2
    assert median_f0(np.zeros(sr), sr) == 0.0

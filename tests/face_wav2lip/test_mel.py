"""Wav2Lip's audio front-end: values, shapes, frame-to-mel indexing, audio fitting, silence."""

import numpy as np
import pytest

from pipelines.face.wav2lip import mel as M
from pipelines.media.audio import fit_to_frames, frame_count


def _reference_mel(wav16k):
    """The original audio.py pipeline written with librosa (reflect padding as in librosa 0.7)."""
    import librosa
    from scipy import signal

    d = librosa.stft(
        y=signal.lfilter([1, -0.97], [1], wav16k), n_fft=800, hop_length=200, win_length=800, pad_mode="reflect"
    )
    s = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ np.abs(d)
    s = 20 * np.log10(np.maximum(np.exp(-100 / 20 * np.log(10)), s)) - 20
    return np.clip(8 * ((s + 100) / 100) - 4, -4, 4)


def test_matches_the_original_front_end(speech):
    samples, sr = speech
    wav = M.resample(samples, sr)
    ours = M.melspectrogram(wav)
    ref = _reference_mel(wav.astype(np.float64))
    assert ours.shape == ref.shape == (80, 1 + len(wav) // 200)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert ours.dtype == np.float32
    assert ours.min() >= -4.0 and ours.max() <= 4.0
    assert ours.max() > 0.0  # speech reaches well above the floor


def test_digital_silence_is_the_floor():
    mel = M.melspectrogram(np.zeros(16000, np.float32))
    assert mel.shape == (80, 81)
    assert np.all(mel == -4.0)


def test_resampling_keeps_duration():
    x = np.sin(np.linspace(0, 2000, 22050)).astype(np.float32)
    for sr in (22050, 44100, 24000, 8000):
        y = M.resample(np.resize(x, sr), sr)
        assert abs(len(y) - 16000) <= 1
    assert M.resample(x, 16000) is not None and len(M.resample(x, 16000)) == len(x)


@pytest.mark.parametrize("duration,fps", [(1.0, 25), (2.37, 25), (0.31, 30), (3.0, 24), (0.5, 60)])
def test_one_mel_window_per_video_frame(duration, fps):
    sr = 22050
    n = frame_count(duration, fps)
    assert n == round(duration * fps)
    audio = fit_to_frames(np.random.default_rng(0).standard_normal(int(duration * sr)) * 0.1, sr, n, fps)
    assert len(audio) == round(n * sr / fps)
    mel = M.melspectrogram(M.resample(audio, sr))
    windows = M.mel_windows(mel, n, fps)
    assert windows.shape == (n, 80, 16)
    total = mel.shape[1]
    assert total == 1 + len(M.resample(audio, sr)) // 200  # 80 columns per second (+1)
    for i in range(n):
        start = min(int(i * 80 / fps), total - 16)
        np.testing.assert_array_equal(windows[i], mel[:, start : start + 16])
    np.testing.assert_array_equal(windows[-1], mel[:, -16:])  # the last window is clamped to the end
    # only the last few frames (the 16-column look-ahead, 0.2 s) are clamped
    clamped = sum(int(i * 80 / fps) + 16 > total for i in range(n))
    assert clamped <= int(np.ceil(15 * fps / 80)) + 1


def test_short_audio_is_padded_with_silence():
    mel = M.melspectrogram(np.zeros(1000, np.float32) + 0.01)
    assert mel.shape[1] < 16
    w = M.mel_windows(mel, 2, 25)
    assert w.shape == (2, 80, 16)
    assert np.all(w[:, :, mel.shape[1] :] == -4.0)


def test_fit_audio_pads_and_trims_to_whole_frames():
    x = np.ones(1000, np.float32)
    longer = fit_to_frames(x, 16000, 5, 25)  # 5 frames = 3200 samples
    assert len(longer) == 3200 and np.all(longer[1000:] == 0) and np.all(longer[:1000] == 1)
    shorter = fit_to_frames(x, 16000, 1, 25)
    assert len(shorter) == 640


def test_silent_stretches():
    sr, fps = 16000, 25
    per = sr // fps
    t = np.arange(per * 30) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    x[per * 10 : per * 20] = 0.0  # 10 silent frames
    x[per * 25 : per * 27] = 0.0  # a 2-frame pause between words
    level = M.frame_rms_db(x, sr, 30, fps)
    assert level[0] > -15 and level[12] < -100
    quiet = M.silent_frames(level, -45.0, min_run=3, margin=1)
    assert not quiet[:11].any()  # speech + 1 frame of margin after it
    assert quiet[11:19].all()  # the long gap, minus one frame each side
    assert not quiet[19:].any()  # margin before the speech, and the short pause

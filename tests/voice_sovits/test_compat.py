"""so-vits-svc-fork next to the CPU torch: torchaudio stand-in, offline pretrained, numpy-2 plots."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ta():
    from pipelines.voice import torchaudio_shim

    return torchaudio_shim


def test_spectrogram_matches_librosa_stft(ta):
    import librosa

    y = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    spec = ta.transforms.Spectrogram(n_fft=512, win_length=512, hop_length=128, power=1.0, window_fn=torch.hann_window)(
        torch.from_numpy(y)
    )
    ref = np.abs(librosa.stft(y, n_fft=512, hop_length=128, win_length=512, center=True, pad_mode="reflect"))
    assert spec.shape == ref.shape
    np.testing.assert_allclose(spec.numpy(), ref, rtol=1e-3, atol=1e-3)


def test_mel_filterbank_matches_librosa_htk(ta):
    import librosa

    fb = ta.functional.melscale_fbanks(257, 0.0, 8000.0, 40, 16000)
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=0.0, fmax=8000.0, htk=True, norm=None)
    np.testing.assert_allclose(fb.numpy().T, ref, atol=2e-3)
    spec = torch.rand(2, 257, 10)
    mel = ta.transforms.MelScale(n_mels=40, sample_rate=16000, f_min=0.0, f_max=8000.0, n_stft=257)(spec)
    torch.testing.assert_close(mel, torch.einsum("fm,bft->bmt", fb, spec))
    both = ta.transforms.MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40, power=1.0)
    x = torch.randn(1, 4000)
    torch.testing.assert_close(both(x), both.mel_scale(both.spectrogram(x)))


@pytest.mark.parametrize("sr_in,sr_out", [(44100, 16000), (22050, 44100), (16000, 16000)])
def test_resample_keeps_the_tone_and_gives_ceil_length(ta, sr_in, sr_out):
    t = np.arange(int(0.5 * sr_in)) / sr_in
    x = torch.from_numpy(np.sin(2 * np.pi * 440 * t).astype(np.float32))
    y = ta.transforms.Resample(sr_in, sr_out)(x)
    assert len(y) == math.ceil(len(x) * sr_out / sr_in)
    torch.testing.assert_close(y, ta.functional.resample(x, sr_in, sr_out))
    spectrum = np.abs(np.fft.rfft(y.numpy()[200:-200] * np.hanning(len(y) - 400)))
    peak = np.fft.rfftfreq(len(y) - 400, 1 / sr_out)[np.argmax(spectrum)]
    assert abs(peak - 440) < 4
    mid = y.numpy()[len(y) // 4 : 3 * len(y) // 4]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(np.sqrt(0.5), rel=0.02)


def test_load_reads_channels_first_float(ta, tmp_path):
    import soundfile as sf

    stereo = np.stack([np.linspace(-0.5, 0.5, 1000), np.zeros(1000)], axis=1).astype(np.float32)
    sf.write(str(tmp_path / "a.wav"), stereo, 8000, subtype="FLOAT")
    wav, sr = ta.load(tmp_path / "a.wav")
    assert sr == 8000 and wav.shape == (2, 1000) and wav.dtype == torch.float32
    np.testing.assert_allclose(wav[0].numpy(), stereo[:, 0], atol=1e-6)


def _run(code: str, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    env_path = f"{extra_path}:{ROOT}" if extra_path else str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )


def test_a_torchaudio_that_cannot_load_is_replaced_by_the_stand_in(tmp_path):
    broken = tmp_path / "site" / "torchaudio"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise OSError('Could not load this library: _torchaudio.abi3.so')\n")
    r = _run(
        """
        from pipelines.voice import sovits_compat
        kind = sovits_compat.ensure_torchaudio()
        import torchaudio, torchcrepe
        import so_vits_svc_fork.utils as fu
        print(kind, torchaudio.IS_PIPELINES_SHIM, fu.torchaudio is torchaudio)
    """,
        tmp_path / "site",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["shim", "True", "True"]


def test_fork_imports_with_its_helpers_fixed_for_offline_and_numpy2(tmp_path):
    from pipelines.voice import sovits_compat

    utils = sovits_compat.import_fork()
    img = utils.plot_spectrogram_to_numpy(np.random.default_rng(0).random((20, 30)))
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 0
    img2 = utils.plot_data_to_numpy(np.arange(10.0), np.arange(10.0)[::-1])
    assert img2.shape[2] == 3
    assert utils.ensure_pretrained_model(tmp_path, {"G_0.pth": "https://example.invalid/G_0.pth"}) is None
    (tmp_path / "G_0.pth").write_bytes(b"x")
    assert utils.ensure_pretrained_model(tmp_path, {"G_0.pth": "u"}) == (tmp_path / "G_0.pth",)


def test_install_check_command_reports_ready():
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.voice.sovits_compat"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "so-vits backend ready" in r.stdout

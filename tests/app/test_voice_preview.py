"""Settings' voice preview: the form's unsaved voice settings, through the real voice stages, off the UI thread, played."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Qt

from pipelines.settings import Settings


def _f0(x: np.ndarray, sr: int) -> float:
    """Median pitch of the voiced frames (autocorrelation), enough to tell 12 semitones apart."""
    out = []
    n = int(0.04 * sr)
    for i in range(0, len(x) - n, n):
        f = x[i : i + n] - x[i : i + n].mean()
        if np.sqrt((f**2).mean()) < 0.02:
            continue
        ac = np.correlate(f, f, "full")[n - 1 :]
        lo, hi = int(sr / 600), int(sr / 70)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            out.append(sr / lag)
    return float(np.median(out))


def test_preview_speaks_the_unsaved_voice_settings_and_plays_them(make_window, tmp_path, qtbot, monkeypatch):
    from pipelines.voice import preview as preview_mod

    w = make_window(settings=Settings(output_dir=str(tmp_path / "out")))
    panel = w.settings_panel
    threads = []
    real = preview_mod.preview_voice
    monkeypatch.setattr(
        preview_mod, "preview_voice", lambda *a, **k: threads.append(threading.current_thread()) or real(*a, **k)
    )
    with qtbot.waitSignal(panel.voice_preview, timeout=120_000) as low:
        panel.preview_voice()
    panel.widgets["voice.world.transpose"].setValue(12)  # not saved
    assert panel.dirty
    w.audio.recorded.clear()
    with qtbot.waitSignal(panel.voice_preview, timeout=120_000) as high:
        qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    assert all(t is not threading.main_thread() for t in threads) and len(threads) == 2
    (a, sr_a), (b, sr_b) = low.args, high.args
    assert sr_a == sr_b and len(a) / sr_a > 1.0
    ratio = _f0(b, sr_b) / _f0(a, sr_a)
    assert 1.7 < ratio < 2.3, ratio  # an octave up: the unsaved transpose was used
    assert not w.settings_path.exists() and panel.dirty  # previewing saves nothing
    assert np.array_equal(np.concatenate(w.audio.recorded), b)  # all of it went to the speakers
    assert "“" in panel.preview_label.text() and panel.preview_button.isEnabled()

"""The window over the embedded default (retrieval + espeak + world + warp): a real turn end to end."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.settings import Settings


@pytest.fixture
def real_window(make_window, tmp_path):
    from app.engine_bridge import default_engine_factory

    return make_window(default_engine_factory, settings=Settings(output_dir=str(tmp_path / "out"), threads=1))


def test_real_turn_streams_text_renders_speaking_face_and_plays_audio(real_window, qtbot):
    w = real_window
    backends = w.status.backends.toolTip()
    for part in ("dialogue: retrieval", "tts: espeak", "vc: world", "face: warp"):
        assert part in backends
    partial, chunks, painted = [], [], []
    w.controller.signals.text.connect(lambda t, piece, mode: partial.append((w.chat.reply_text(t), mode)))
    w.controller.signals.video.connect(chunks.append)
    w.avatar.painted.connect(lambda ft: painted.append((ft, w.avatar.current_frame)) if ft >= 0 else None)
    turn = w.send("晚安")
    qtbot.waitUntil(lambda: turn in w._records, timeout=180_000)
    rec = w._records[turn]
    assert rec.status == "ok" and rec.mode == "retrieval"
    assert w.chat.reply_text(turn) == rec.reply and "晚安" in rec.reply
    assert len({p for p, _ in partial}) >= 2 and {m for _, m in partial} == {"retrieval"}
    qtbot.waitUntil(lambda: not w.player.playing, timeout=60_000)
    # audio: every sample the face stage rendered went to the audio output, in order
    sent = np.concatenate([c.audio for c in chunks])
    assert np.array_equal(np.concatenate(w.audio.recorded), sent)
    assert len(sent) / chunks[0].sample_rate == pytest.approx(rec.audio_s, abs=0.05)
    # video: the avatar view painted the rendered frames, in audio order, and the mouth moved
    frames = np.concatenate([c.frames for c in chunks])
    assert len(painted) >= 0.5 * len(frames)
    times = [ft for ft, _ in painted]
    assert times == sorted(times)
    for ft, img in painted[:: max(1, len(painted) // 10)]:
        assert np.array_equal(img, frames[int(round(ft * chunks[0].fps))])
    h = frames.shape[1]
    mouth = frames[:, h // 2 :, :, :].astype(np.int16)
    assert np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2, 3)).max() > 1.0, "the face did not move"
    assert "first audio" in w.status.timings.text() and "on screen" in w.status.timings.text()
    # back to the idle animation: the renderer's own idle motion (mouth closed, sway/blink), moving
    qtbot.wait(300)
    assert w.avatar._time < 0
    idle = w.player._idle
    assert idle is not None and len(idle) > 25
    assert np.abs(idle[0].astype(np.int16) - idle[len(idle) // 4]).mean() > 0.2, "the idle face is frozen"

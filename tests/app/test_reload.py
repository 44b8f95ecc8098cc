"""Reloading the models from the window (Save and apply): the new engine's turns play, old bubbles go."""

from __future__ import annotations

import numpy as np

from pipelines.settings import Settings


def test_first_turn_after_save_and_apply_is_heard_and_animated(make_window, qtbot, tmp_path):
    """Over the embedded default pipeline: a turn, Save and apply (the engine is rebuilt), then the
    new engine's first turn reaches the speakers and the avatar, with its own timings."""
    from app.engine_bridge import default_engine_factory

    w = make_window(default_engine_factory, settings=Settings(output_dir=str(tmp_path / "out"), threads=1))
    first = w.send("晚安")
    qtbot.waitUntil(lambda: first in w._records and first in w.player.turns_played, timeout=180_000)
    old_engine, heard_before = w.controller.engine, len(w.audio.recorded)
    assert w.settings_panel.save() is not None  # "Save and apply"
    qtbot.waitUntil(
        lambda: w.controller.engine not in (None, old_engine) and w.chat.send_button.isEnabled(), timeout=180_000
    )
    # the window's history starts afresh with the engine's: only the reload notice is left
    assert [b.role for b in w.chat.bubbles] == ["notice"] and w.chat.replies == {}
    chunks = []
    w.controller.signals.video.connect(chunks.append)
    frames_before = w.player.frames_shown
    turn = w.send("晚安")
    assert turn > first, "a reloaded engine reused a turn id of the previous one"
    qtbot.waitUntil(lambda: turn in w._records, timeout=180_000)
    qtbot.waitUntil(lambda: turn in w.player.turns_played, timeout=60_000)
    assert w._records[turn].status == "ok" and w.chat.reply_text(turn) == w._records[turn].reply
    assert chunks and w.player.chunks_received[turn] == len(chunks)
    heard = np.concatenate(w.audio.recorded[heard_before:])
    assert np.array_equal(heard, np.concatenate([c.audio for c in chunks])), "the new turn was not heard"
    assert w.player.frames_shown - frames_before >= 0.5 * sum(len(c.frames) for c in chunks), "not animated"
    assert w.status.timings.text().startswith(f"turn {turn}")


def test_save_video_writes_the_reply_as_shown_and_heard(make_window, qtbot, tmp_path):
    """Over the embedded default pipeline: "Save video" on a reply writes an MP4 (main_demo's writer)
    with every frame and the whole reply audio."""
    from app.engine_bridge import default_engine_factory
    from pipelines.media.mp4_writer import probe_durations

    w = make_window(default_engine_factory, settings=Settings(output_dir=str(tmp_path / "out"), threads=1))
    chunks = []
    w.controller.signals.video.connect(chunks.append)
    turn = w.send("晚安")
    qtbot.waitUntil(lambda: turn in w._records and turn in w.player.turns_played, timeout=180_000)
    bubble = w.chat.replies[turn]
    assert bubble.video_button.isVisible()
    saved = []
    w.video_saved.connect(lambda t, p: saved.append((t, p)))
    out = tmp_path / "reply.mp4"
    assert w.save_video(turn, out)
    qtbot.waitUntil(lambda: bool(saved), timeout=120_000)
    assert saved == [(turn, str(out))] and out.is_file()
    d = probe_durations(out)
    frames = sum(len(c.frames) for c in chunks)
    assert d["video_frames"] == frames and d["video_codec"] == "h264" and d["audio_codec"] == "aac"
    assert abs(d["audio"] - w._records[turn].audio_s) < 0.1
    # a reply that is no longer kept says so, and writes nothing
    assert not w.save_video(turn + 100, tmp_path / "none.mp4")
    assert "no longer kept" in w.status.error.text() and not (tmp_path / "none.mp4").exists()

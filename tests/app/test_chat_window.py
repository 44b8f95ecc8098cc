"""The main window over toy stages: streaming, keys, player sync, Stop, errors, Clear."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Qt

from tests.app.conftest import REPLY, ToyFactory


def test_message_streams_text_frames_and_audio(make_window, qtbot):
    w = make_window()
    partial = []
    w.controller.signals.text.connect(lambda t, piece, mode: partial.append(w.chat.reply_text(t)))
    chunks = []
    w.controller.signals.video.connect(chunks.append)
    w.chat.input.setPlainText("你好")
    qtbot.keyClick(w.chat.input, Qt.Key.Key_Return)
    turn = w.current_turn
    assert turn is not None and w.chat.bubbles[-2].text == "你好"
    qtbot.waitUntil(lambda: turn in w._records, timeout=30_000)
    # the reply arrived piece by piece, and in full
    assert w.chat.reply_text(turn) == REPLY
    assert len({p for p in partial if p}) >= 5, "the reply was not shown while it streamed"
    assert all(REPLY.startswith(p) for p in partial)
    # every rendered chunk reached the player and its audio reached the audio output, in order
    qtbot.waitUntil(lambda: not w.player.playing, timeout=30_000)
    assert chunks and w.player.chunks_received[turn] == len(chunks)
    played = np.concatenate(w.audio.recorded)
    sent = np.concatenate([c.audio for c in chunks])
    assert np.array_equal(played, sent)
    # the avatar view showed the turn's frames at the pace of the audio clock
    total = sum(len(c.frames) for c in chunks)
    assert w.player.frames_shown >= 0.8 * total
    # sync (not speed: the UI benchmark measures stalls): no frame before its audio, and the
    # typical frame on screen while its own audio plays
    assert w.player.delays and min(w.player.delays) >= -1e-3, "a frame was shown before its audio"
    assert float(np.median(w.player.delays)) < 1 / 25
    rec = w._records[turn]
    assert rec.status == "ok" and "first audio" in w.status.timings.text()
    assert "dialogue: scripted" in w.status.backends.toolTip() and "face: flat" in w.status.backends.toolTip()


def test_shift_enter_inserts_newline_and_enter_sends(make_window, qtbot):
    w = make_window()
    qtbot.keyClicks(w.chat.input, "line one")
    qtbot.keyClick(w.chat.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(w.chat.input, "line two")
    assert w.chat.input.toPlainText() == "line one\nline two"
    assert w.current_turn is None
    qtbot.keyClick(w.chat.input, Qt.Key.Key_Enter)  # keypad Enter sends too
    assert w.current_turn is not None
    assert w.chat.bubbles[-2].text == "line one\nline two"
    assert w.chat.input.toPlainText() == ""


def test_stop_drops_the_rest_of_the_turn(make_window, qtbot, tmp_path):
    factory = ToyFactory(tmp_path, reply="这是很长的一句话，会说很久。" * 12, delay=0.03)
    w = make_window(factory)
    turn = w.send("talk a lot")
    qtbot.waitUntil(lambda: w.player.playing and w.player.frames_shown > 3, timeout=30_000)
    text_at_stop = w.chat.reply_text(turn)
    shown_at_stop = w.player.frames_shown
    qtbot.mouseClick(w.chat.stop_button, Qt.MouseButton.LeftButton)
    t_stop = time.perf_counter()
    # at once: no audio buffered, nothing playing, Stop disabled
    assert not w.player.playing and w.audio.written() == 0.0 and w.player.buffered_frames == 0
    assert not w.chat.stop_button.isEnabled()
    qtbot.waitUntil(lambda: turn in w._records, timeout=30_000)
    qtbot.wait(500)
    assert w._records[turn].status == "interrupted"
    assert w.player.frames_shown == shown_at_stop, "frames of the stopped turn were shown after Stop"
    assert w.chat.reply_text(turn) == text_at_stop, "text of the stopped turn kept arriving"
    assert "stopped" in w.chat.replies[turn].meta.text()
    assert factory.stages["dialogue"].stopped_early[turn]
    # the next turn plays normally
    factory.stages["dialogue"].reply = "好的。Okay then."
    turn2 = w.send("short please")
    qtbot.waitUntil(lambda: turn2 in w._records, timeout=30_000)
    qtbot.waitUntil(lambda: w.player.chunks_received.get(turn2, 0) > 0, timeout=10_000)
    assert w._records[turn2].status == "ok" and w.chat.reply_text(turn2) == "好的。Okay then."
    assert t_stop > 0


def test_stage_error_shows_in_status_bar_and_next_turn_works(make_window, qtbot, tmp_path):
    factory = ToyFactory(tmp_path, reply="This is fine. Then boom happens. More text.", fail_on="boom")
    w = make_window(factory)
    turn = w.send("go")
    qtbot.waitUntil(lambda: turn in w._records, timeout=30_000)
    assert w._records[turn].status == "error"
    assert w.status.error.isVisible()
    err = w.status.error.text()
    assert "tts" in err and "cannot say 'boom'" in err
    assert "error" in w.chat.replies[turn].meta.text()
    factory.stages["dialogue"].reply = "All good now. Nothing breaks."
    turn2 = w.send("again")
    qtbot.waitUntil(lambda: turn2 in w._records, timeout=30_000)
    assert w._records[turn2].status == "ok"
    qtbot.waitUntil(lambda: w.player.chunks_received.get(turn2, 0) >= 1, timeout=10_000)
    assert not w.status.error.isVisible()


def test_clear_empties_history_in_window_and_engine(make_window, qtbot, tmp_path):
    factory = ToyFactory(tmp_path, reply="Hello there.")
    w = make_window(factory)
    turn = w.send("remember me")
    qtbot.waitUntil(lambda: turn in w._records, timeout=30_000)
    assert factory.stages["dialogue"].history == ["remember me"]
    qtbot.mouseClick(w.chat.clear_button, Qt.MouseButton.LeftButton)  # Clear asks first ...
    qtbot.wait(200)
    assert factory.stages["dialogue"].history == ["remember me"]
    assert [b.role for b in w.chat.bubbles if b.role != "notice"] == ["user", "persona"]
    assert "again" in w.chat.clear_button.text()
    qtbot.mouseClick(w.chat.clear_button, Qt.MouseButton.LeftButton)  # ... the second press clears
    qtbot.waitUntil(lambda: factory.stages["dialogue"].history == [], timeout=10_000)
    assert w.chat.bubbles == [] and not w.player.playing


def test_ui_thread_never_runs_a_stage(make_window, qtbot, tmp_path):
    import threading

    main = threading.get_ident()
    seen = []

    class Recording(ToyFactory):
        def __call__(self, settings, sink):
            eng = super().__call__(settings, sink)
            for st in self.stages.values():
                orig = st.process

                def wrapped(msg, ctx, _orig=orig):
                    seen.append(threading.get_ident())
                    return _orig(msg, ctx)

                st.process = wrapped
            return eng

    w = make_window(Recording(tmp_path))
    turn = w.send("hi")
    qtbot.waitUntil(lambda: turn in w._records, timeout=30_000)
    assert seen and main not in seen


def test_models_that_cannot_load_are_reported_and_fixed_from_settings(make_window, qtbot, tmp_path):
    """chatglm without a model folder fails to load: the window says why; choosing retrieval in the
    settings panel reloads the engine in the background and the chat works."""
    from pipelines.engine import Engine
    from pipelines.settings import Settings
    from pipelines.testing.toy_stages import FlatFace, PassAudio, ToneTTS

    def factory(settings, sink):  # real dialogue backend from the registry, toy voice and face
        return Engine(
            settings,
            stages={"tts": ToneTTS(), "vc": PassAudio(), "face": FlatFace()},
            sink=sink,
            log_path=tmp_path / "log.jsonl",
        )

    bad = Settings(output_dir=str(tmp_path / "out")).replace("dialogue.backend", "chatglm")
    w = make_window(factory, settings=bad, wait_ready=False)
    qtbot.waitUntil(lambda: not w.controller.busy and w.status.error.isVisible(), timeout=120_000)
    assert w.controller.engine is None
    assert "dialogue" in w.status.error.text() and "could not load" in w.status.error.text()
    assert not w.chat.send_button.isEnabled()
    panel = w.settings_panel
    combo = panel.widgets["dialogue.backend"]
    combo.setCurrentIndex(combo.findData("retrieval"))
    assert panel.save() is not None
    qtbot.waitUntil(lambda: w.controller.engine is not None and w.chat.send_button.isEnabled(), timeout=120_000)
    assert "Replying from the chat log" in w.status.backends.text()
    turn = w.send("晚安")
    qtbot.waitUntil(lambda: turn in w._records, timeout=60_000)
    assert w._records[turn].status == "ok" and "晚安" in w.chat.reply_text(turn)


def test_volume_slider_sets_the_loudness_of_what_is_heard(make_window, qtbot, tmp_path):
    factory = ToyFactory(tmp_path, reply="Hello there. Quietly now.")
    w = make_window(factory)
    chunks = []
    w.controller.signals.video.connect(chunks.append)
    w.chat.volume.setValue(40)
    assert w.audio.volume == 0.4
    turn = w.send("hi")
    qtbot.waitUntil(lambda: turn in w.player.turns_played, timeout=30_000)
    sent = np.concatenate([c.audio for c in chunks])
    heard = np.concatenate(w.audio.recorded)
    assert np.abs(sent).max() > 0.05
    np.testing.assert_allclose(heard, sent * 0.4, atol=1e-6)

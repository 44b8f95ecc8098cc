"""The conversation is there after a restart (shown and given back to the dialogue); Clear asks first;
the window's shortcuts."""

from __future__ import annotations

from PySide6.QtCore import Qt

from pipelines.engine import Engine
from pipelines.settings import Settings
from pipelines.testing.toy_stages import FlatFace, PassAudio, ToneTTS


def _retrieval_factory(settings, sink):
    """The real dialogue backend (retrieval over the default persona's chat log), toy voice and face."""
    return Engine(settings, stages={"tts": ToneTTS(), "vc": PassAudio(), "face": FlatFace()}, sink=sink)


def test_history_comes_back_after_a_restart_and_clear_asks_first(make_window, qtbot, tmp_path):
    settings = Settings(output_dir=str(tmp_path / "out"))
    w = make_window(_retrieval_factory, settings=settings)
    assert w.restored_rounds == []
    replies = []
    for text in ("晚安", "你好"):
        turn = w.send(text)
        qtbot.waitUntil(lambda t=turn: t in w._records, timeout=60_000)
        assert w._records[turn].status == "ok"
        replies.append((text, w._records[turn].reply))
    w.shutdown()
    # a new window (a restart) over the same output folder
    w2 = make_window(_retrieval_factory, settings=settings)
    assert w2.restored_rounds == replies
    texts = [(b.role, b.text) for b in w2.chat.bubbles]
    assert texts[0][0] == "notice" and texts[1:] == [
        ("user", "晚安"),
        ("persona", replies[0][1]),
        ("user", "你好"),
        ("persona", replies[1][1]),
    ]
    dialogue = w2.controller.engine.stages["dialogue"]
    qtbot.waitUntil(lambda: dialogue.history == replies, timeout=10_000)  # the model has it too
    # Clear asks first: one press changes nothing
    qtbot.mouseClick(w2.chat.clear_button, Qt.MouseButton.LeftButton)
    qtbot.wait(100)
    assert len(w2.chat.bubbles) == 5 and dialogue.history == replies
    qtbot.mouseClick(w2.chat.clear_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialogue.history == [] and w2.chat.bubbles == [], timeout=10_000)
    w2.shutdown()
    # after a Clear, the next start begins empty
    w3 = make_window(_retrieval_factory, settings=settings)
    assert w3.restored_rounds == [] and [b.role for b in w3.chat.bubbles if b.role != "notice"] == []
    assert w3.controller.engine.stages["dialogue"].history == []


def test_shortcuts(make_window, qtbot, tmp_path):
    from tests.app.conftest import ToyFactory

    w = make_window(ToyFactory(tmp_path, reply="这是很长的一句话，会说很久。" * 8, delay=0.03))
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    assert set(w.shortcuts) == {"Esc", "Ctrl+Q", "Ctrl+L", "Ctrl+,"}
    qtbot.keyClick(w.chat.input, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentWidget() is w.settings_panel
    w.tabs.setCurrentIndex(0)
    turn = w.send("talk")
    qtbot.waitUntil(lambda: w.player.playing, timeout=30_000)
    qtbot.keyClick(w.chat.input, Qt.Key.Key_Escape)
    assert not w.player.playing and turn in w._stopped
    qtbot.keyClick(w.chat.input, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert "again" in w.chat.clear_button.text() and w.chat.bubbles  # asks first
    qtbot.keyClick(w.chat.input, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert w.chat.bubbles == []
    qtbot.keyClick(w.chat.input, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)

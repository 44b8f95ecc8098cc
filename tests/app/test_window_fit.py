"""The window fits the screen whatever the strings it shows; wheel events never change unfocused fields."""

from __future__ import annotations

from PySide6.QtCore import QPoint


def test_a_300_character_backend_string_never_widens_the_window_past_the_screen(make_window, qtbot):
    w = make_window()
    avail = w.screen().availableGeometry()
    long_dir = "module/ptuning/" + "persona-run-" * 24 + "final"
    assert len(long_dir) >= 300
    backends = {
        "dialogue": f"chatglm (module/chatglm-6b + P-tuning {long_dir})",
        "tts": "espeak",
        "vc": "world",
        "face": "warp",
    }
    w._on_ready(backends, 1.0)  # what the controller emits when an engine is loaded
    w.status.set_timings("turn 7 · first audio 0.41 s · " + "x" * 300)
    w.status.show_error("the models could not load: " + long_dir)
    w.settings_panel.set_value("dialogue.chatglm.ptuning_dir", long_dir)
    qtbot.wait(50)
    assert w.minimumSizeHint().width() <= avail.width(), w.minimumSizeHint()
    w.resize(avail.width(), min(700, avail.height()))  # maximised at most
    qtbot.wait(50)
    assert w.width() <= avail.width()
    for b in (w.chat.send_button, w.chat.stop_button, w.chat.clear_button):
        right = b.mapTo(w, QPoint(b.width(), 0)).x()
        assert 0 < right <= w.width(), f"{b.text()} is off the window"
    # the full text is kept (tooltip, text()), drawn elided
    assert long_dir in w.status.backends.text() and long_dir in w.status.backends.toolTip()
    assert w.status.backends.is_elided()
    assert w.status.backends.width() < avail.width()


def _wheel(widget, steps: int = -3):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def test_wheel_over_an_unfocused_combo_or_spin_box_scrolls_the_page_and_changes_nothing(make_window, qtbot):
    w = make_window()
    w.resize(900, 500)
    w.tabs.setCurrentWidget(w.settings_panel)
    panel = w.settings_panel
    combo, spin = panel.widgets["dialogue.chatglm.dtype"], panel.widgets["threads"]
    qtbot.wait(50)
    panel.save_button.setFocus()
    from PySide6.QtWidgets import QScrollArea

    bar = panel.findChild(QScrollArea).verticalScrollBar()
    assert bar.maximum() > 0, "the settings page should scroll in a 500 px window"
    before = (combo.currentIndex(), spin.value(), bar.value())
    for _ in range(3):
        _wheel(combo)
        _wheel(spin)
    assert (combo.currentIndex(), spin.value()) == before[:2], "an unfocused field took the wheel"
    assert bar.value() > before[2], "the page did not scroll"
    assert not panel.dirty
    # a focused field does take it (the wheel event itself works)
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus, timeout=2000)
    _wheel(combo, -1)
    assert combo.currentIndex() != before[0]

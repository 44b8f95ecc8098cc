"""Dark theme: follows the desktop's colour scheme (colorSchemeChanged), with the user's override."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from app.style import stylesheet
from app.theme import is_dark_palette


def test_palette_follows_the_desktop_scheme_and_the_override_wins(make_window, styled_app):
    w = make_window()
    theme = w.theme
    hints = styled_app.styleHints()
    assert theme.mode == "auto"
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # what Qt sends when the desktop turns dark
    assert theme.dark and is_dark_palette(styled_app.palette()) and styled_app.styleSheet() == stylesheet(True)
    assert w.palette().color(QPalette.ColorRole.Window).lightness() < 128  # the window took it
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not theme.dark and not is_dark_palette(styled_app.palette())
    assert styled_app.styleSheet() == stylesheet(False)
    # the user's choice, from the status bar's Theme menu, wins over the desktop
    theme.actions["dark"].trigger()
    assert theme.mode == "dark" and is_dark_palette(styled_app.palette())
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert theme.dark and is_dark_palette(styled_app.palette())
    theme.actions["auto"].trigger()
    assert theme.wants_dark(Qt.ColorScheme.Dark) and not theme.wants_dark(Qt.ColorScheme.Light)
    assert theme.dark == (hints.colorScheme() == Qt.ColorScheme.Dark)
    assert w.theme_button.menu() is not None and [a.text() for a in w.theme_button.menu().actions()] == [
        "Follow the desktop",
        "Light",
        "Dark",
    ]
    assert stylesheet(True) != stylesheet(False) and "#1b1f27" in stylesheet(True)

"""Light or dark: the app follows the desktop's colour scheme (Qt 6.5+ ``QStyleHints.colorScheme``,
live through ``colorSchemeChanged``), or the user's choice ("light" / "dark"), kept app-side.

``ThemeManager.apply`` sets both the palette (native widgets, dialogs) and the app's stylesheet
(``app/style.py``) of the chosen theme.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QColor, QPalette

from .style import DARK, LIGHT, stylesheet

MODES = ("auto", "light", "dark")
MODE_TITLES = {"auto": "Follow the desktop", "light": "Light", "dark": "Dark"}
SETTINGS_KEY = "theme"


def palette(dark: bool) -> QPalette:
    """A full palette of the theme's colours (roles of every colour group)."""
    c = DARK if dark else LIGHT
    p = QPalette()
    role = QPalette.ColorRole
    for r, key in (
        (role.Window, "bg"),
        (role.WindowText, "text"),
        (role.Base, "base"),
        (role.AlternateBase, "bubble"),
        (role.Text, "text"),
        (role.Button, "base"),
        (role.ButtonText, "text"),
        (role.ToolTipBase, "base"),
        (role.ToolTipText, "text"),
        (role.PlaceholderText, "muted"),
        (role.Mid, "border"),
        (role.Midlight, "border2"),
        (role.Dark, "status"),
    ):
        p.setColor(r, QColor(c[key]))
    p.setColor(role.Highlight, QColor("#3d7bfd"))
    p.setColor(role.HighlightedText, QColor("#ffffff"))
    p.setColor(role.Link, QColor("#6a9bff" if dark else "#3d7bfd"))
    p.setColor(role.BrightText, QColor(c["error"]))
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(disabled, r, QColor(c["disabled"]))
    return p


def is_dark_palette(p: QPalette) -> bool:
    return p.color(QPalette.ColorRole.Window).lightness() < 128


class ThemeManager(QObject):
    """Keeps the application's palette and stylesheet on the theme of ``mode``."""

    changed = Signal(bool)  # dark

    def __init__(self, app, mode: str | None = None, persist: bool = False, parent=None) -> None:
        """``persist``: remember the user's choice in the app's QSettings (the real app; tests don't)."""
        super().__init__(parent)
        self.app = app
        self.persist = persist
        if mode is None:
            stored = QSettings().value(SETTINGS_KEY, "auto") if persist else "auto"
            mode = stored if stored in MODES else "auto"
        self.mode = mode
        self.dark = False
        hints = app.styleHints()
        if hasattr(hints, "colorSchemeChanged"):  # Qt 6.5+
            hints.colorSchemeChanged.connect(self._scheme_changed)
        self.apply()

    def desktop_scheme(self):
        hints = self.app.styleHints()
        return hints.colorScheme() if hasattr(hints, "colorScheme") else Qt.ColorScheme.Unknown

    def wants_dark(self, scheme=None) -> bool:
        if self.mode != "auto":
            return self.mode == "dark"
        return (self.desktop_scheme() if scheme is None else scheme) == Qt.ColorScheme.Dark

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"theme must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        if self.persist:
            QSettings().setValue(SETTINGS_KEY, mode)
        self.apply()

    def _scheme_changed(self, scheme) -> None:
        if self.mode == "auto":
            self.apply(scheme)

    def apply(self, scheme=None) -> bool:
        dark = self.wants_dark(scheme)
        self.app.setPalette(palette(dark))
        self.app.setStyleSheet(stylesheet(dark))
        changed, self.dark = dark != self.dark, dark
        if changed:
            self.changed.emit(dark)
        return dark

    def menu(self, parent=None):
        """A "Theme" menu: follow the desktop, light, dark (checked: the current mode)."""
        from PySide6.QtGui import QAction, QActionGroup
        from PySide6.QtWidgets import QMenu

        menu = QMenu("Theme", parent)
        group = QActionGroup(menu)
        self.actions: dict[str, QAction] = {}
        for mode in MODES:
            act = QAction(MODE_TITLES[mode], menu, checkable=True)
            act.setChecked(mode == self.mode)
            act.triggered.connect(lambda checked=False, m=mode: self.set_mode(m))
            group.addAction(act)
            menu.addAction(act)
            self.actions[mode] = act
        return menu

"""A live microphone level meter: a bar that follows the input level (0..1, -60..0 dBFS)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class LevelMeter(QWidget):
    """``set_level`` from a queued signal; rises at once, falls slowly (as level meters do)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("levelMeter")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("microphone level")
        self.level = 0.0  # what the bar shows
        self.peak = 0.0  # highest level since the last reset (tests, the status line)
        self.updates = 0

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(120, 10)

    def set_level(self, value: float) -> None:
        value = min(1.0, max(0.0, float(value)))
        self.level = value if value >= self.level else 0.7 * self.level + 0.3 * value
        self.peak = max(self.peak, value)
        self.updates += 1
        self.update()

    def reset(self) -> None:
        self.level = self.peak = 0.0
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#2a2f3a"))
        p.drawRoundedRect(r, 3, 3)
        if self.level > 0:
            fill = QRectF(r.left(), r.top(), r.width() * self.level, r.height())
            color = "#4cc38a" if self.level < 0.75 else "#e5b454" if self.level < 0.92 else "#e5534b"
            p.setBrush(QColor(color))
            p.drawRoundedRect(fill, 3, 3)
        p.end()

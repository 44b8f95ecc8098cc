"""The avatar's picture: paints the player's current frame, keeping its aspect ratio."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


def frame_to_qimage(frame: np.ndarray) -> QImage:
    """A QImage viewing an (H,W,3) uint8 RGB array (keep the array alive while it is used)."""
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)


class AvatarView(QWidget):
    painted = Signal(float)  # the frame's audio time (-1: idle), emitted after it was drawn

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._frame: np.ndarray | None = None
        self._image: QImage | None = None
        self._time = -1.0
        self._pending = False
        self.notice = ""           # e.g. "no audio device" (shown as a badge)
        self.caption = ""          # e.g. "loading models 3/6" (shown centred)
        self.frames_painted = 0

    def show_frame(self, frame: np.ndarray, frame_time: float) -> None:
        self._frame = np.ascontiguousarray(frame)
        self._image = frame_to_qimage(self._frame)
        self._time = frame_time
        self._pending = True
        self.update()

    def set_notice(self, text: str) -> None:
        self.notice = text
        self.setToolTip(text)
        self.update()

    def set_caption(self, text: str) -> None:
        self.caption = text
        self.update()

    @property
    def current_frame(self) -> np.ndarray | None:
        return self._frame

    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        f = min(self.width() / iw, self.height() / ih)
        w, h = iw * f, ih * f
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), QColor("#1d2430"))
        if self._image is not None:
            r = self.image_rect().adjusted(6, 6, -6, -6)
            path = QPainterPath()
            path.addRoundedRect(r, 14, 14)
            p.save()
            p.setClipPath(path)
            p.drawImage(r, self._image)
            p.restore()
        if self.caption:
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.1)
            p.setFont(font)
            box = QRectF(self.rect()).adjusted(20, self.height() * 0.78, -20, -16)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(box, 10, 10)
            p.setPen(QColor("#f0f3f8"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.caption)
        if self.notice:
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 0.85)
            p.setFont(font)
            fm = p.fontMetrics()
            text = "\U0001F507 " + self.notice.split("(")[0].strip() if fm.inFontUcs4(0x1F507) \
                else self.notice.split("(")[0].strip()
            w = min(self.width() - 24, fm.horizontalAdvance(text) + 20)
            box = QRectF(12, 12, w, fm.height() + 10)
            p.setPen(QPen(QColor("#e0b341"), 1))
            p.setBrush(QColor(40, 32, 10, 200))
            p.drawRoundedRect(box, 8, 8)
            p.setPen(QColor("#ffd975"))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, fm.elidedText(text, Qt.TextElideMode.ElideRight, int(w) - 12))
        p.end()
        self.frames_painted += 1
        if self._pending:
            self._pending = False
            self.painted.emit(self._time)

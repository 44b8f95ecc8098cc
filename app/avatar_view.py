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


MARGIN = 6
RADIUS = 14


class AvatarView(QWidget):
    painted = Signal(float)  # the frame's audio time (-1: idle), emitted after it was drawn
    box_changed = Signal(int, int)  # device pixels available for a frame (the sink scales to fit)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._frame: np.ndarray | None = None
        self._image: QImage | None = None
        self._time = -1.0
        self._pending = False
        self.notice = ""  # e.g. "no audio device" (shown as a badge)
        self.caption = ""  # e.g. "loading models 3/6" (shown centred)
        self.frames_painted = 0
        self.frames_scaled = 0  # frames that had to be scaled while painting (size mismatch)
        self._corners: tuple | None = None  # (rect, path) of the rounded-corner mask

    def show_frame(self, frame: np.ndarray, frame_time: float) -> None:
        self._frame = np.ascontiguousarray(frame)
        self._image = frame_to_qimage(self._frame)
        self._time = frame_time
        self._pending = True
        if frame_time >= 0 and self.isVisible():
            self.repaint()  # a speaking frame goes on screen now, while its audio plays
        else:
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

    def frame_box(self) -> tuple[int, int]:
        """Device pixels available to a frame."""
        dpr = self.devicePixelRatioF()
        return (int((self.width() - 2 * MARGIN) * dpr), int((self.height() - 2 * MARGIN) * dpr))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._corners = None
        self.box_changed.emit(*self.frame_box())

    def image_rect(self) -> QRectF:
        """Where the frame goes: native size when it already fits the box (no scaling), else fitted."""
        if self._image is None:
            return QRectF(self.rect())
        dpr = self.devicePixelRatioF()
        iw, ih = self._image.width() / dpr, self._image.height() / dpr
        bw, bh = self.width() - 2 * MARGIN, self.height() - 2 * MARGIN
        f = min(bw / iw, bh / ih)
        if 0.995 <= f and (abs(iw - bw) <= 1.5 or abs(ih - bh) <= 1.5):
            f = 1.0  # the sink already scaled it to fit: draw 1:1
        w, h = iw * f, ih * f
        if f == 1.0:  # whole pixels, so the copy is not resampled
            return QRectF((self.width() - w) // 2, (self.height() - h) // 2, w, h)
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _corner_mask(self, r: QRectF) -> QPainterPath:
        if self._corners is None or self._corners[0] != r:
            outer = QPainterPath()
            outer.addRect(r.adjusted(-1, -1, 1, 1))
            inner = QPainterPath()
            inner.addRoundedRect(r, RADIUS, RADIUS)
            self._corners = (QRectF(r), outer.subtracted(inner))
        return self._corners[1]

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        bg = QColor("#1d2430")
        if self._image is None:
            p.fillRect(self.rect(), bg)
        else:
            r = self.image_rect()
            # background only around the picture (the picture covers the rest)
            for band in (
                QRectF(0, 0, self.width(), r.top()),
                QRectF(0, r.bottom(), self.width(), self.height()),
                QRectF(0, r.top(), r.left(), r.height()),
                QRectF(r.right(), r.top(), self.width(), r.height()),
            ):
                if band.width() > 0 and band.height() > 0:
                    p.fillRect(band, bg)
            dpr = self.devicePixelRatioF()
            if abs(r.width() * dpr - self._image.width()) < 0.5 and abs(r.height() * dpr - self._image.height()) < 0.5:
                self._image.setDevicePixelRatio(dpr)
                p.drawImage(r.topLeft(), self._image)  # 1:1 copy: the sink scaled it
            else:
                self.frames_scaled += 1
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                p.drawImage(r, self._image)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.fillPath(self._corner_mask(r), bg)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
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
            text = (
                "\U0001f507 " + self.notice.split("(")[0].strip()
                if fm.inFontUcs4(0x1F507)
                else self.notice.split("(")[0].strip()
            )
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

"""A live loss plot drawn with QPainter (train loss per step, eval loss at checkpoints)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

TRAIN = QColor("#3d7bfd")
EVAL = QColor("#e0672b")


class LossPlot(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.train: list[tuple[int, float]] = []
        self.eval: list[tuple[int, float]] = []
        self.total_steps = 0

    def clear(self) -> None:
        self.train.clear()
        self.eval.clear()
        self.update()

    def add(self, rec: dict) -> None:
        """A record from the fine-tuning loss callback: {"step", "loss"} or {"step", "eval_loss"}."""
        if "loss" in rec and rec["loss"] is not None and math.isfinite(rec["loss"]):
            self.train.append((int(rec["step"]), float(rec["loss"])))
        if "eval_loss" in rec and rec["eval_loss"] is not None:
            self.eval.append((int(rec["step"]), float(rec["eval_loss"])))
        self.update()

    def plot_rect(self) -> QRectF:
        return QRectF(self.rect()).adjusted(52, 14, -14, -28)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#ffffff"))
        r = self.plot_rect()
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        p.setPen(QPen(QColor("#dfe3eb"), 1))
        p.drawRect(r)
        values = [v for _, v in self.train] + [v for _, v in self.eval]
        if not values:
            p.setPen(QColor("#9aa3b2"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "loss appears here while training runs")
            p.end()
            return
        lo, hi = min(values), max(values)
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        steps = [s for s, _ in self.train] + [s for s, _ in self.eval]
        s_hi = max(max(steps), self.total_steps, 1)
        s_lo = 0

        def pt(step: float, v: float) -> QPointF:
            return QPointF(
                r.left() + (step - s_lo) / max(1e-9, s_hi - s_lo) * r.width(),
                r.bottom() - (v - lo) / (hi - lo) * r.height(),
            )

        p.setPen(QColor("#7a8294"))
        for k in range(5):
            v = lo + (hi - lo) * k / 4
            y = r.bottom() - r.height() * k / 4
            p.drawText(
                QRectF(0, y - 8, 48, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{v:.3g}"
            )
            if 0 < k < 4:
                p.setPen(QPen(QColor("#f0f2f6"), 1))
                p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
                p.setPen(QColor("#7a8294"))
        p.drawText(QRectF(r.left(), r.bottom() + 4, r.width(), 18), Qt.AlignmentFlag.AlignLeft, "step 0")
        p.drawText(QRectF(r.left(), r.bottom() + 4, r.width(), 18), Qt.AlignmentFlag.AlignRight, f"step {s_hi}")
        if self.train:
            path = QPainterPath(pt(*self.train[0]))
            for s, v in self.train[1:]:
                path.lineTo(pt(s, v))
            p.setPen(QPen(TRAIN, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        p.setPen(QPen(EVAL, 1.5))
        p.setBrush(EVAL)
        for s, v in self.eval:
            p.drawEllipse(pt(s, v), 4, 4)
        legend = f"train loss {self.train[-1][1]:.3f}" if self.train else ""
        if self.eval:
            legend += f"   eval loss {self.eval[-1][1]:.3f}"
        p.setPen(QColor("#3c4455"))
        p.drawText(r.adjusted(8, 4, -8, -4), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight, legend)
        p.end()

"""A strip of face crops (what enrollment detected), and RGB array → QPixmap."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget


def to_pixmap(rgb: np.ndarray, size: int | None = None) -> QPixmap:
    a = np.ascontiguousarray(rgb[..., :3])
    h, w = a.shape[:2]
    img = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    pm = QPixmap.fromImage(img)
    if size:
        pm = pm.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pm


class CropStrip(QWidget):
    def __init__(self, count: int = 8, size: int = 96, parent=None) -> None:
        super().__init__(parent)
        self.count, self.size = count, size
        self.lay = QHBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.lay.setSpacing(6)
        self.labels: list[QLabel] = []

    def set_crops(self, crops: np.ndarray | None) -> int:
        for lab in self.labels:
            lab.deleteLater()
        self.labels = []
        if crops is None or len(crops) == 0:
            return 0
        idx = np.unique(np.linspace(0, len(crops) - 1, min(self.count, len(crops))).astype(int))
        for i in idx:
            lab = QLabel()
            lab.setPixmap(to_pixmap(np.asarray(crops[i]), self.size))
            lab.setToolTip(f"frame {i}")
            lab.setStyleSheet("border-radius: 6px; border: 1px solid #dfe3eb;")
            self.lay.addWidget(lab)
            self.labels.append(lab)
        self.lay.addStretch(1)
        return len(self.labels)

"""Fine-tuning page (placeholder until pipelines.dialogue.finetune lands)."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class FinetunePage(QWidget):
    use_result = Signal(str)

    def __init__(self, settings, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        QVBoxLayout(self).addWidget(QLabel("fine-tuning"))

    def shutdown(self) -> None:
        pass

"""The ``dialogue.openai.endpoint`` field: checked against the server (``/v1/models``) when it is picked.

The check runs in a background thread (a server that does not answer must not freeze the
window); the answer appears under the field, and the models the server offers become the
completions of the ``dialogue.openai.model`` field.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCompleter, QLabel, QLineEdit

from .tasks import BackgroundTask


class EndpointField(QLineEdit):
    """A QLineEdit (so the panel reads and writes it as any text field) that checks its server."""

    models_found = Signal(list)

    def __init__(self, api_key_env=lambda: "", parent=None) -> None:
        super().__init__(parent)
        self._api_key_env = api_key_env
        self.check_label = QLabel("")
        self.check_label.setObjectName("check_dialogue.endpoint")
        self.check_label.setWordWrap(True)
        self.check_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.models: list[str] = []
        self._task: BackgroundTask | None = None
        self.editingFinished.connect(self.check)

    def check(self) -> None:
        url = self.text().strip()
        if not url:
            self.check_label.setText("")
            return
        env = (self._api_key_env() or "").strip()
        key = os.environ.get(env) if env else None
        self.check_label.setText(f"checking {url} …")

        def work(report, cancelled):
            from pipelines.dialogue.openai_stage import list_models

            return list_models(url, key)

        if self._task is not None:
            self._task.cancel()
        self._task = task = BackgroundTask(work, name="endpoint-check", parent=self)
        task.done.connect(lambda models, u=url: self._answer(u, models, None))
        task.failed.connect(lambda msg, _tb, u=url: self._answer(u, None, msg))
        task.start()

    def _answer(self, url: str, models: list[str] | None, error: str | None) -> None:
        if url != self.text().strip():
            return  # the field changed meanwhile: a newer check answers
        if error is not None:
            self.models = []
            self.check_label.setText("✗ " + error)
            return
        self.models = list(models or [])
        shown = ", ".join(self.models[:6]) + (f" (+{len(self.models) - 6})" if len(self.models) > 6 else "")
        self.check_label.setText(
            f"✓ the server answers; it offers: {shown}" if self.models else "✓ the server answers, but lists no models"
        )
        self.models_found.emit(self.models)


def offer_models(model_edit: QLineEdit, models: list[str]) -> None:
    """The server's models as completions of the model field (typed names still work)."""
    completer = QCompleter(models, model_edit)
    completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    model_edit.setCompleter(completer)
    if models and not model_edit.placeholderText():
        model_edit.setPlaceholderText(f"empty: {models[0]} (the server's first)")

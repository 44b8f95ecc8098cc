"""The window's status bar: backends per stage, loading progress, turn timings, errors."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar, QStatusBar, QToolButton

from .plain_words import plain_backends

STAGES = ("dialogue", "tts", "vc", "face")


def fmt_s(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f} s"


def describe_backends(backends: dict[str, str]) -> str:
    return "  ·  ".join(f"{k} {backends[k]}" for k in STAGES if k in backends)


def describe_timings(rec, shown_s: float | None = None) -> str:
    parts = [f"turn {rec.turn_id}"]
    if rec.status != "ok":
        parts.append(rec.status)
    parts.append(f"first audio {fmt_s(rec.first_audio_s)}")
    parts.append(f"first frame {fmt_s(rec.first_frame_s)}")
    if shown_s is not None:
        parts.append(f"on screen {fmt_s(shown_s)}")
    if rec.audio_s:
        parts.append(f"{rec.audio_s:.1f} s speech")
    if rec.render_rtf is not None:
        parts.append(f"render RTF {rec.render_rtf:.2f}")
    return "  ·  ".join(parts)


class ElidedLabel(QLabel):
    """One line that never widens the window: drawn elided ("…") when it does not fit, full text in
    ``text()`` and the tooltip.  Its size hint is capped at ``max_hint`` pixels, its minimum is small."""

    def __init__(self, text: str = "", max_hint: int = 480, parent=None) -> None:
        super().__init__(text, parent)
        self.max_hint = max_hint
        self.setWordWrap(False)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.updateGeometry()

    def _full_width(self) -> int:
        return self.fontMetrics().horizontalAdvance(self.text()) + 8

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(self._full_width(), self.max_hint), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(min(self._full_width(), 48), super().minimumSizeHint().height())

    def is_elided(self) -> bool:
        return self._full_width() - 8 > self.contentsRect().width()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        r = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, r.width())
        self.style().drawItemText(
            p,
            r,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            self.palette(),
            self.isEnabled(),
            shown,
            self.foregroundRole(),
        )
        p.end()


class StatusPanel(QStatusBar):
    """Plain words for what runs (``plain_backends``); the timings and the backends' technical
    names show while the Details toggle is on."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("statusPanel")
        self.setSizeGripEnabled(False)
        self.backends = ElidedLabel("")
        self.backends.setObjectName("backendsLabel")
        self.progress = QProgressBar()
        self.progress.setObjectName("loadProgress")
        self.progress.setFixedWidth(160)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.timings = ElidedLabel("", max_hint=560)
        self.timings.setObjectName("timingsLabel")
        self.error = ElidedLabel("", max_hint=520)
        self.error.setObjectName("errorLabel")
        self.error.setVisible(False)
        self.error.setCursor(Qt.CursorShape.PointingHandCursor)
        self.error.mousePressEvent = lambda e: self.show_error_details()
        self.audio = QLabel("")
        self.audio.setObjectName("audioLabel")
        self.audio.setVisible(False)
        self.timings.setVisible(False)
        self.details_button = QToolButton()
        self.details_button.setObjectName("detailsButton")
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show the timings of each reply and the backends' names")
        self.details_button.toggled.connect(self.show_details)
        self.addWidget(self.backends, 1)
        self.addWidget(self.progress)
        self.addWidget(self.error, 1)
        self.addPermanentWidget(self.timings)
        self.addPermanentWidget(self.audio)
        self.addPermanentWidget(self.details_button)
        self.error_details = ""
        self.errors: list[str] = []
        self._backends: dict[str, str] = {}
        self._settings = None

    @property
    def details_shown(self) -> bool:
        return self.details_button.isChecked()

    def show_details(self, on: bool = True) -> None:
        """Details on: the timings, and the backends by name ("dialogue retrieval · tts espeak")."""
        if self.details_button.isChecked() != on:
            self.details_button.setChecked(on)  # comes back here through toggled
            return
        self.timings.setVisible(on)
        if self._backends:
            self.set_backends(self._backends, self._settings)

    def set_backends(self, backends: dict[str, str], settings=None) -> None:
        self._backends, self._settings = dict(backends), settings
        plain = plain_backends(backends, settings)
        self.backends.setText(plain + ("  —  " + describe_backends(backends) if self.details_shown else ""))
        self.backends.setToolTip(plain + "\n\n" + "\n".join(f"{k}: {v}" for k, v in backends.items()))

    def set_loading(self, what: str, done: int, total: int) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.backends.setText(f"{what} … ({done}/{total})")

    def loading_done(self) -> None:
        self.progress.setVisible(False)

    def set_timings(self, text: str) -> None:
        self.timings.setText(text)
        self.timings.setToolTip(text)

    def show_error(self, text: str, details: str = "") -> None:
        self.errors.append(text)
        first = text.strip().splitlines()[0] if text.strip() else "error"
        self.error.setText("⚠ " + first)
        self.error.setToolTip((details or text)[-4000:])
        self.error_details = details or text
        self.error.setVisible(True)

    def clear_error(self) -> None:
        self.error.setVisible(False)
        self.error.setText("")

    def set_audio_notice(self, text: str) -> None:
        self.audio.setText("no audio device" if text else "")
        self.audio.setToolTip(text)
        self.audio.setVisible(bool(text))

    def show_error_details(self) -> None:
        if self.error_details:
            box = QMessageBox(QMessageBox.Icon.Warning, "Error", self.error.text().lstrip("⚠ "), parent=self)
            box.setDetailedText(self.error_details)
            box.open()

"""Chat history with streamed replies, and the message box (Enter sends, Shift+Enter new line)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)


class MessageInput(QPlainTextEdit):
    """Enter (or keypad Enter) sends; Shift+Enter inserts a new line."""

    submitted = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("messageInput")
        self.setPlaceholderText("Type a message…  (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(72)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
                return
            text = self.toPlainText().strip()
            if text:
                self.submitted.emit(text)
            return
        super().keyPressEvent(event)


class Bubble(QFrame):
    """One message: the text and a small line under it (mode, timings, stopped, error)."""

    def __init__(self, role: str, text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.role = role
        self.setObjectName(f"bubble_{role}")
        self.setProperty("role", role)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 6)
        lay.setSpacing(2)
        self.label = QLabel()
        self.label.setObjectName("bubbleText")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta = QLabel()
        self.meta.setObjectName("bubbleMeta")
        self.meta.setVisible(False)
        lay.addWidget(self.label)
        lay.addWidget(self.meta)
        self.video_button = QPushButton("Save video")
        self.video_button.setObjectName("bubbleVideo")
        self.video_button.setFlat(True)
        self.video_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.video_button.setToolTip("write this reply (face and voice) as an MP4 file")
        self.video_button.setVisible(False)
        lay.addWidget(self.video_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.text = ""
        self.max_text_width = 400
        self.set_text(text)

    def set_text(self, text: str) -> None:
        self.text = text
        self.label.setText(text if text else "…")
        self._fit_text()

    def set_max_width(self, width: int) -> None:
        self.max_text_width = max(120, width)
        self.setMaximumWidth(self.max_text_width + 24)
        self.label.setMaximumWidth(self.max_text_width)
        self._fit_text()

    def _fit_text(self) -> None:
        """Grow with the text up to the maximum width, then wrap (QLabel alone wraps too early)."""
        self.label.ensurePolished()
        fm = self.label.fontMetrics()
        lines = (self.text or "…").splitlines() or [""]
        ideal = max(fm.horizontalAdvance(line) for line in lines) + 6
        self.label.setMinimumWidth(min(ideal, self.max_text_width))

    def append(self, piece: str) -> None:
        self.set_text(self.text + piece)

    def set_meta(self, text: str, kind: str = "") -> None:
        self.meta.setText(text)
        self.meta.setProperty("kind", kind)
        self.meta.style().unpolish(self.meta)
        self.meta.style().polish(self.meta)
        self.meta.setVisible(bool(text))


class ChatPanel(QWidget):
    send_requested = Signal(str)
    stop_requested = Signal()
    clear_requested = Signal()

    def __init__(self, persona_name: str = "Persona", parent=None) -> None:
        super().__init__(parent)
        self.persona_name = persona_name
        self.replies: dict[int, Bubble] = {}
        self.bubbles: list[Bubble] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(8)

        self.scroll = QScrollArea()
        self.scroll.setObjectName("chatScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history = QWidget()
        self.history.setObjectName("chatHistory")
        self.rows = QVBoxLayout(self.history)
        self.rows.setContentsMargins(12, 12, 12, 12)
        self.rows.setSpacing(10)
        self.rows.addStretch(1)
        self.scroll.setWidget(self.history)
        outer.addWidget(self.scroll, 1)

        self.input = MessageInput()
        self.input.submitted.connect(self._send)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(lambda: self._send(self.input.toPlainText().strip()))
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_requested)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("clearButton")
        self.clear_button.setToolTip("Clear the conversation history (the persona forgets it too)")
        self.clear_button.clicked.connect(self.request_clear)
        self._clear_armed = QTimer(self)
        self._clear_armed.setSingleShot(True)
        self._clear_armed.setInterval(4000)
        self._clear_armed.timeout.connect(self._disarm_clear)
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.clear_button)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setObjectName("volumeSlider")
        self.volume.setRange(0, 100)
        self.volume.setValue(100)
        self.volume.setFixedWidth(90)
        self.volume.setToolTip("volume of the persona's voice")
        self.volume.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        buttons.addWidget(self.volume)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.input, 1)
        row.addLayout(buttons)
        outer.addLayout(row)
        self._stick_to_bottom = True
        self.scroll.verticalScrollBar().rangeChanged.connect(self._on_range)
        self.scroll.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    # -- actions ---------------------------------------------------------------
    def _send(self, text: str) -> None:
        if text and self.send_button.isEnabled():
            self.send_requested.emit(text)

    def request_clear(self) -> bool:
        """Clear asks first: the first press (or Ctrl+L) arms it for 4 s, the second clears."""
        if self._clear_armed.isActive():
            self._disarm_clear()
            self.clear_requested.emit()
            return True
        self.clear_button.setText("Clear? Press again")
        self.clear_button.setProperty("armed", True)
        self._clear_armed.start()
        return False

    def _disarm_clear(self) -> None:
        self._clear_armed.stop()
        self.clear_button.setText("Clear")
        self.clear_button.setProperty("armed", False)

    def add_earlier(self, user_text: str, reply: str) -> None:
        """A round of a conversation restored from the log (shown, not replayed)."""
        self._add(Bubble("user", user_text))
        b = self._add(Bubble("persona", reply))
        b.set_meta("earlier", "")

    def set_ready(self, ready: bool, why: str = "") -> None:
        self.send_button.setEnabled(ready)
        self.send_button.setToolTip("" if ready else why)
        self.input.setPlaceholderText(
            "Type a message…  (Enter sends, Shift+Enter for a new line)" if ready else (why or "Loading…")
        )

    def set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)

    # -- history -----------------------------------------------------------------
    def _add(self, bubble: Bubble) -> Bubble:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        if bubble.role == "user":
            row.addStretch(1)
            row.addWidget(bubble)
        elif bubble.role == "persona":
            row.addWidget(bubble)
            row.addStretch(1)
        else:
            row.addStretch(1)
            row.addWidget(bubble)
            row.addStretch(1)
        self.rows.insertLayout(self.rows.count() - 1, row)
        self.bubbles.append(bubble)
        self._fit(bubble)
        self._stick_to_bottom = True
        return bubble

    def add_user(self, text: str) -> Bubble:
        self.input.clear()
        return self._add(Bubble("user", text))

    def begin_reply(self, turn_id: int) -> Bubble:
        b = self._add(Bubble("persona", ""))
        self.replies[turn_id] = b
        return b

    def append_reply(self, turn_id: int, piece: str) -> bool:
        b = self.replies.get(turn_id)
        if b is None:
            return False
        b.append(piece)
        return True

    def finish_reply(self, turn_id: int, meta: str, kind: str = "") -> None:
        b = self.replies.get(turn_id)
        if b is not None:
            if not b.text and kind != "error":
                b.set_text("(no reply)")
            b.set_meta(meta, kind)

    def offer_video(self, turn_id: int, save) -> None:
        """Show "Save video" under the reply; ``save()`` is called when it is pressed."""
        b = self.replies.get(turn_id)
        if b is not None:
            b.video_button.clicked.connect(save)
            b.video_button.setVisible(True)

    def add_notice(self, text: str) -> Bubble:
        return self._add(Bubble("notice", text))

    def clear(self) -> None:
        while self.rows.count() > 1:
            item = self.rows.takeAt(0)
            lay = item.layout()
            if lay is not None:
                while lay.count():
                    w = lay.takeAt(0).widget()
                    if w is not None:
                        w.deleteLater()
                lay.deleteLater()
        self.bubbles.clear()
        self.replies.clear()

    def reply_text(self, turn_id: int) -> str:
        b = self.replies.get(turn_id)
        return b.text if b is not None else ""

    # -- layout ------------------------------------------------------------------
    def _fit(self, bubble: Bubble) -> None:
        w = max(200, int(self.scroll.viewport().width() * 0.78))
        bubble.set_max_width(w - 24)
        bubble.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Minimum)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        for b in self.bubbles:
            self._fit(b)

    def _on_range(self, lo: int, hi: int) -> None:
        if self._stick_to_bottom:
            self.scroll.verticalScrollBar().setValue(hi)

    def _on_scrolled(self, value: int) -> None:
        bar = self.scroll.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 24

"""The microphone button: hold to talk, or (hands-free) a toggle that keeps the microphone listening."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton


class MicButton(QPushButton):
    talk_started = Signal()  # push-to-talk: pressed
    talk_ended = Signal()  # push-to-talk: released
    listening_toggled = Signal(bool)  # hands-free: on / off

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("micButton")
        self.hands_free = False
        self.pressed.connect(self._pressed)
        self.released.connect(self._released)
        self.toggled.connect(self._toggled)
        self._refresh()

    def set_hands_free(self, on: bool) -> None:
        if on == self.hands_free:
            return
        if self.isChecked():
            self.setChecked(False)  # leaving hands-free stops listening
        self.hands_free = bool(on)
        self.setCheckable(self.hands_free)
        self._refresh()

    def _pressed(self) -> None:
        if not self.hands_free:
            self.talk_started.emit()
            self._refresh(talking=True)

    def _released(self) -> None:
        if not self.hands_free:
            self.talk_ended.emit()
            self._refresh()

    def _toggled(self, on: bool) -> None:
        if self.hands_free:
            self.listening_toggled.emit(on)
            self._refresh()

    def _refresh(self, talking: bool = False) -> None:
        if self.hands_free:
            self.setText("Listening — click to stop" if self.isChecked() else "Start listening")
            self.setToolTip("hands-free: each pause ends a turn; speak over the avatar to interrupt it")
        else:
            self.setText("Speaking… release to send" if talking else "Hold to talk")
            self.setToolTip("push-to-talk: hold while you speak, release to send")

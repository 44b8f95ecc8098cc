"""The voice row under the avatar: mic button, hands-free switch, level meter, what is being heard.

``install_voice_input(window, layout)`` builds the bridge and the panel, puts
the panel in ``layout`` and connects them to the window: the player's chunks
are the barge-in reference, a recognised utterance is sent as the user's turn
(with its speech facts), a barge-in stops the reply, asr errors go to the
window's error handler.  ``latencies`` keeps, per spoken turn, the seconds from
the end of speech to its text and to its first audio reaching the player.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .level_meter import LevelMeter
from .mic_button import MicButton
from .voice_input_bridge import VoiceInputBridge


class VoicePanel(QWidget):
    def __init__(self, bridge: VoiceInputBridge, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("voicePanel")
        self.bridge = bridge
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 0)
        lay.setSpacing(3)
        row = QHBoxLayout()
        self.button = MicButton()
        self.hands_free = QCheckBox("hands-free")
        self.hands_free.setObjectName("handsFree")
        self.hands_free.setToolTip(
            "listen all the time: a pause ends your turn, speaking over the avatar interrupts it"
        )
        self.meter = LevelMeter()
        row.addWidget(self.button)
        row.addWidget(self.hands_free)
        row.addWidget(self.meter, 1)
        lay.addLayout(row)
        self.heard = QLabel("")
        self.heard.setObjectName("heardText")
        self.heard.setWordWrap(True)
        self.heard.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.heard.setStyleSheet("color: #9aa4b8; font-style: italic;")
        lay.addWidget(self.heard)
        self.notice = QLabel("")
        self.notice.setObjectName("micNotice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #e5b454;")
        self.notice.hide()
        lay.addWidget(self.notice)

        self.button.talk_started.connect(self._talk)
        self.button.talk_ended.connect(bridge.release)
        self.button.listening_toggled.connect(bridge.set_hands_free)
        self.hands_free.toggled.connect(self.button.set_hands_free)
        bridge.level.connect(self.meter.set_level)
        bridge.partial.connect(lambda t: self.heard.setText(f"“{t}…”"))
        bridge.final.connect(self._final)
        bridge.notice.connect(self.show_notice)
        bridge.listening.connect(self._listening)

    def _listening(self, on: bool) -> None:
        if on or self.bridge.voice.running:
            return
        self.meter.reset()
        if self.button.isChecked():  # the capture ended by itself (device gone): show it as off
            self.button.setChecked(False)

    def _talk(self) -> None:
        self.heard.setText("listening…")
        self.bridge.press()

    def _final(self, text: str, speech: dict) -> None:
        self.heard.setText(f"“{text}”" if text else "(no words recognised — speak closer to the microphone)")

    def show_notice(self, text: str) -> None:
        """Why voice input cannot be used ("": it can again)."""
        self.notice.setText(f"Voice input unavailable: {text}" if text else "")
        self.notice.setVisible(bool(text))
        self.button.setEnabled(not text)
        self.hands_free.setEnabled(not text)
        if text:
            self.button.setToolTip(text)
            if self.button.isChecked():
                self.button.setChecked(False)


def install_voice_input(window, layout) -> VoiceInputBridge:
    """Create the bridge and panel for ``window`` (a MainWindow) and wire them; returns the bridge."""
    bridge = VoiceInputBridge(window.settings, window.controller, parent=window)
    panel = VoicePanel(bridge)
    layout.addWidget(panel)
    window.voice_panel = panel
    bridge.latencies = {}  # turn id -> {"eos_to_text_s", "eos_to_first_audio_s"}
    eos: dict[int, float] = {}
    player, sig = window.player, window.controller.signals

    def on_final(text: str, speech: dict) -> None:
        if not text:
            return
        facts = {k: v for k, v in speech.items() if k != "end_of_speech"}
        turn = window.send(text, speech=facts)
        if turn is not None and "end_of_speech" in speech:
            eos[turn] = speech["end_of_speech"]
            bridge.latencies[turn] = {"eos_to_text_s": time.perf_counter() - speech["end_of_speech"]}

    def on_chunk(chunk) -> None:  # the bridge delivers only chunks of live turns; the player plays each
        bridge.played_chunk(chunk)
        t = eos.pop(chunk.turn_id, None)
        if t is not None:
            bridge.latencies[chunk.turn_id]["eos_to_first_audio_s"] = time.perf_counter() - t

    def on_playing(playing: bool) -> None:
        if not playing and player.turn_id is not None:
            bridge.drop_turn(player.turn_id)  # ended or stopped: the speaker is silent from now on

    def on_barge_in(turn_id: int) -> None:
        player.drop_turn(turn_id)
        if window.current_turn == turn_id:
            window.stop()
        panel.heard.setText("(interrupted — listening…)")

    def on_press() -> None:  # talking over the avatar with the button: the reply stops
        if player.playing or window._engine_busy:
            window.stop()

    bridge.final.connect(on_final)
    sig.video.connect(on_chunk)
    sig.cancelled.connect(bridge.drop_turn)
    player.playing_changed.connect(on_playing)
    bridge.barge_in.connect(on_barge_in)

    def on_error(err) -> None:  # the window's error list and status line; not tied to a turn
        window.errors.append(err)
        window.status.show_error(f"voice input: stage '{err.stage}' failed: {err.error}", err.traceback or err.error)

    bridge.error.connect(on_error)
    panel.button.talk_started.connect(on_press)
    window.settings_panel.applied.connect(lambda settings: (bridge.set_settings(settings), bridge.check_device()))
    window.controller.ready.connect(lambda *a: bridge.preload())
    bridge.check_device()
    return bridge

"""Voice input in the window over the real embedded pipeline, fed a simulated microphone.

The microphone is an espeak-rendered WAV file handed out in 32 ms blocks at the
pace of real time (``ArraySource``), the way a sound card delivers them; for
barge-in the simulated room adds what the player plays, delayed 100 ms and
attenuated 10 dB, as the avatar's voice coming back through the microphone.
The capture, the VAD, the barge-in check and the recogniser are the real ones,
running on their own threads.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.asr.barge_in import PlayedAudio
from pipelines.asr.sources import ArraySource
from pipelines.settings import Settings


def espeak_wav(path, text: str, voice: str = "en-us", lead_s: float = 0.5, tail_s: float = 0.3):
    """A WAV file of espeak-ng speaking ``text`` at its own rate (22.05 kHz), with silence around it."""
    import soundfile as sf

    from pipelines.testing.fresh_espeak import fresh_pcm

    pcm, sr = fresh_pcm(text, voice, 150, 50)  # the same audio in every run, whatever spoke before
    z = lambda s: np.zeros(int(s * sr), np.float32)  # noqa: E731
    sf.write(str(path), np.concatenate([z(lead_s), pcm.astype(np.float32) / 32768.0, z(tail_s)]), sr, subtype="PCM_16")
    return path


@pytest.fixture
def real_window(make_window, tmp_path):
    from app.engine_bridge import default_engine_factory

    def make(**asr):
        s = Settings(output_dir=str(tmp_path / "out"), threads=1)
        s.dialogue.retrieval.stream_delay_ms = 60  # the reply is still being written while its first sentence plays
        for k, v in asr.items():
            setattr(s.asr, k, v)
        return make_window(default_engine_factory, settings=s)

    return make


def listen_hands_free(w, qtbot):
    from PySide6.QtCore import Qt

    w.voice_panel.hands_free.setChecked(True)
    qtbot.mouseClick(w.voice_panel.button, Qt.MouseButton.LeftButton)
    assert w.voice_panel.button.isChecked() and w.voice.hands_free


def test_spoken_question_hands_free_becomes_a_turn_and_gets_a_reply(real_window, qtbot, tmp_path):
    w = real_window()
    wav = espeak_wav(tmp_path / "q.wav", "Where do you live?")
    w.voice.use_source(lambda: ArraySource.from_file(wav))  # then silence, like a quiet room
    partials, finals = [], []
    w.voice.partial.connect(partials.append)
    w.voice.final.connect(lambda t, s: finals.append((t, s)))
    assert not w.voice_panel.notice.isVisible() and w.voice_panel.button.isEnabled()
    listen_hands_free(w, qtbot)
    qtbot.waitUntil(lambda: bool(w._records), timeout=60_000)
    turn = next(iter(w._records))
    rec = w._records[turn]
    assert rec.user_text == "where do you live" and rec.status == "ok" and rec.reply
    assert rec.speech["text"] == "where do you live" and rec.speech["backend"] == "pocketsphinx"
    assert 1.0 < rec.speech["audio_s"] < 2.5  # the utterance the VAD cut, not the whole stream
    assert any(b.role == "user" and "where do you live" in b.label.text() for b in w.chat.bubbles)
    assert w.chat.reply_text(turn) == rec.reply
    # the meter followed the speech; partial text was shown while it was spoken
    assert w.voice_panel.meter.peak > 0.5 and w.voice_panel.meter.updates > 30
    assert partials and all(p for p in partials)
    assert w.voice_panel.heard.text() == "“where do you live”"
    # a reply came, audio reached the player
    qtbot.waitUntil(lambda: turn in w.player.turns_played, timeout=60_000)
    assert sum(len(x) for x in w.audio.recorded) > 0
    lat = w.voice.latencies[turn]
    assert 0 < lat["eos_to_text_s"] < lat["eos_to_first_audio_s"]
    print(
        f"\nend of speech -> text {lat['eos_to_text_s']:.3f} s (recognition {rec.speech['recognize_s']:.3f} s), "
        f"-> first audio {lat['eos_to_first_audio_s']:.3f} s"
    )


def test_push_to_talk_hold_and_release(real_window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    w = real_window()
    wav = espeak_wav(tmp_path / "q.wav", "Where do you live?", lead_s=0.2, tail_s=0.2)
    src = ArraySource.from_file(wav)
    w.voice.use_source(lambda: src)
    assert not w.voice_panel.button.isCheckable()
    qtbot.mousePress(w.voice_panel.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: src.delivered >= len(src.samples), timeout=30_000)
    assert not w._records, "a turn was sent before the button was released"
    qtbot.mouseRelease(w.voice_panel.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(w._records), timeout=60_000)
    rec = next(iter(w._records.values()))
    assert rec.user_text == "where do you live" and rec.status == "ok" and rec.reply


def test_barge_in_during_a_reply_cancels_it_and_nothing_of_it_plays_after(real_window, qtbot, tmp_path):
    w = real_window()
    room = PlayedAudio()  # the speaker as the microphone hears it
    w.voice.taps.append(room)
    user = ArraySource.from_file(espeak_wav(tmp_path / "u.wav", "Stop, wait a moment please.", "en-us+f3"))
    user.start_at(1.2)  # the user speaks 1.2 s after listening starts, over the avatar
    user.echo_of, user.echo_gain = room, 0.3
    w.voice.use_source(lambda: user)
    barged, written = [], []
    w.voice.barge_in.connect(barged.append)
    w.controller.signals.video.connect(lambda c: written.append((c.turn_id, w.player.chunks_received.get(c.turn_id))))
    first = w.send("What can you do?")
    qtbot.waitUntil(lambda: w.player.playing, timeout=60_000)
    listen_hands_free(w, qtbot)
    qtbot.waitUntil(lambda: bool(barged), timeout=30_000)
    assert barged == [first]
    qtbot.waitUntil(lambda: first in w._records, timeout=30_000)
    assert w._records[first].status == "interrupted"
    got_at_barge = w.player.chunks_received.get(first, 0)
    assert not w.player.playing or w.player.turn_id != first
    # the user's words become the next turn, which is answered; nothing of the first plays again
    qtbot.waitUntil(lambda: len(w._records) >= 2, timeout=60_000)
    second = max(w._records)
    qtbot.waitUntil(lambda: second in w.player.turns_played, timeout=90_000)
    assert w._records[second].status == "ok" and w._records[second].speech["source"].endswith("u.wav")
    assert w.player.chunks_received.get(first, 0) == got_at_barge
    assert first not in w.player.turns_played
    assert w.voice.voice.interrupted == [first]


@pytest.mark.parametrize("headphones", [False, True])
def test_echo_alone_does_not_barge_in_unless_headphones_turn_the_check_off(real_window, qtbot, headphones):
    w = real_window(headphones=headphones)
    room = PlayedAudio()
    w.voice.taps.append(room)
    src = ArraySource(np.zeros(0, np.float32), echo_of=room, echo_gain=0.3)  # silence + the avatar's echo
    w.voice.use_source(lambda: src)
    barged = []
    w.voice.barge_in.connect(barged.append)
    turn = w.send("What can you do?")
    listen_hands_free(w, qtbot)
    if headphones:  # no echo check: the avatar's voice in the microphone counts as speech
        qtbot.waitUntil(lambda: bool(barged), timeout=60_000)
        assert barged == [turn]
        qtbot.waitUntil(lambda: turn in w._records, timeout=30_000)
        assert w._records[turn].status == "interrupted"
    else:
        qtbot.waitUntil(lambda: turn in w.player.turns_played, timeout=90_000)
        qtbot.wait(500)
        assert not barged and w._records[turn].status == "ok"
        assert list(w._records) == [turn], "the avatar's echo was sent as a user turn"
        assert src.delivered > 3 * 16000  # the microphone was listening all along


def test_no_input_device_is_a_clear_notice_in_the_window(make_window, qtbot):
    from app.voice_input_bridge import input_notice

    w = make_window()
    reason = input_notice(w.settings)
    if reason is None:
        pytest.skip("this machine has an input device")
    panel = w.voice_panel
    assert panel.notice.isVisible() and "no microphone" in panel.notice.text()
    assert not panel.button.isEnabled() and not panel.hands_free.isEnabled()
    notices = []
    w.voice.notice.connect(notices.append)
    w.voice.set_hands_free(True)  # asked anyway: the capture thread reports, nothing crashes
    qtbot.waitUntil(lambda: bool(notices), timeout=10_000)
    assert "no microphone" in notices[0] and not w.voice.voice.running
    assert w.chat.send_button.isEnabled()  # typing still works


def test_microphone_is_chosen_in_settings_from_the_listed_devices(styled_app, qtbot, tmp_path):
    from PySide6.QtWidgets import QComboBox

    from app.input_device_field import DEFAULT_LABEL, list_input_names
    from app.settings_panel import SettingsPanel

    s = Settings()
    s.asr.input_device = "USB headset"
    panel = SettingsPanel(s, tmp_path / "settings.json")
    qtbot.addWidget(panel)
    w = panel.widgets["asr.input_device"]
    names, why = list_input_names()
    assert isinstance(w, QComboBox)
    assert [w.itemText(i) for i in range(w.count())] == [DEFAULT_LABEL, *names, "USB headset (not connected)"]
    assert (why == "") == bool(names)
    assert panel.values()["asr"]["input_device"] == "USB headset"  # a device unplugged now is kept
    w.setCurrentIndex(0)
    assert Settings.from_dict(panel.values()).asr.input_device == ""


class UnpluggedSource(ArraySource):
    """A microphone that disappears after a second: its reads fail, as a device's do."""

    def read(self, timeout=0.1):
        if self.delivered >= 16000:
            raise OSError("Stream is stopped: the input device was removed")
        return super().read(timeout)


def test_microphone_failing_mid_stream_is_reported_with_its_stage(make_window, qtbot):
    w = make_window()  # toy stages: only voice input matters here
    w.voice.use_source(lambda: UnpluggedSource(np.zeros(0, np.float32)))
    listen_hands_free(w, qtbot)
    qtbot.waitUntil(lambda: bool(w.errors), timeout=20_000)
    err = w.errors[-1]
    assert err.stage == "mic" and "input device was removed" in err.error
    assert "voice input: stage 'mic' failed" in w.status.error.text()
    qtbot.waitUntil(lambda: not w.voice.voice.running, timeout=5_000)
    qtbot.waitUntil(lambda: not w.voice_panel.button.isChecked(), timeout=5_000)  # shown as not listening
    assert w.voice_panel.meter.level == 0.0 and w.chat.send_button.isEnabled()

"""The audio-clocked player and the silent audio clock, without an engine."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.audio_output import SilentAudioOutput, open_audio_output
from app.player import AvatarPlayer
from pipelines.messages import TextChunk, VideoChunk

FPS = 25.0
SR = 16000


def chunk(turn_id, seq, n_frames, start_value=0):
    """Frames whose pixel value is their index in the turn (so a shown frame names itself)."""
    frames = np.zeros((n_frames, 8, 8, 3), np.uint8)
    for i in range(n_frames):
        frames[i] = (start_value + i) % 256
    audio = (0.1 * np.sin(np.arange(int(n_frames / FPS * SR)) * 0.05)).astype(np.float32)
    return VideoChunk(turn_id, frames, FPS, audio, SR, "x", seq=seq)


def test_silent_clock_runs_in_real_time_and_waits_when_starved():
    out = SilentAudioOutput()
    out.write(np.zeros(SR // 5, np.float32), SR)  # 0.2 s
    t0 = time.perf_counter()
    time.sleep(0.1)
    p = out.position()
    assert 0.08 <= p <= min(0.2, time.perf_counter() - t0) + 1e-6
    time.sleep(0.25)
    assert out.position() == pytest.approx(0.2, abs=1e-9), "the clock ran past the audio it was given"
    time.sleep(0.1)  # starved: the clock must not move
    out.write(np.zeros(SR // 5, np.float32), SR)
    assert out.position() == pytest.approx(0.2, abs=0.01), "time spent starved was counted as played"
    out.clear()
    assert out.position() == 0.0 and out.written() == 0.0


def test_open_audio_output_falls_back_to_silent_with_a_notice():
    out = open_audio_output(use_device=False)
    assert out.kind == "silent" and "No audio device" in out.notice
    out = open_audio_output()  # this machine has no sound card: still a working clock, with the reason
    if out.kind == "silent":
        assert "No audio device" in out.notice and "(" in out.notice
    out.close()


def test_frames_follow_the_audio_clock(qapp, qtbot):
    audio = SilentAudioOutput(record=True)
    player = AvatarPlayer(audio)
    shown = []
    player.frame_ready.connect(lambda f, t: shown.append((time.perf_counter(), int(f[0, 0, 0]), t)))
    t0 = time.perf_counter()
    player.push(chunk(1, 0, 20))
    player.push(chunk(1, 1, 20, 20))
    player.turn_rendered(1)
    qtbot.waitUntil(lambda: not player.playing, timeout=10_000)
    played = [(t, i, ft) for t, i, ft in shown if ft >= 0]
    idx = [i for _, i, _ in played]
    assert idx == sorted(idx) and idx[0] == 0 and idx[-1] == 39
    for t, i, ft in played:
        assert ft == pytest.approx(i / FPS)
        # shown no earlier than its audio time on the clock that started at the first push
        assert t - t0 >= ft - 0.002
    assert (played[-1][0] - t0) == pytest.approx(39 / FPS, abs=0.25)
    assert len(audio.recorded) == 2 and player.turns_played == [1]


def test_starved_player_holds_the_last_frame_then_continues(qapp, qtbot):
    audio = SilentAudioOutput()
    player = AvatarPlayer(audio)
    shown = []
    player.frame_ready.connect(lambda f, t: shown.append(int(f[0, 0, 0])) if t >= 0 else None)
    player.push(chunk(1, 0, 5))
    qtbot.wait(500)  # 0.2 s of audio, then starved for 0.3 s
    assert shown[-1] == 4 and player.playing
    assert audio.position() == pytest.approx(0.2, abs=1e-6)
    player.push(chunk(1, 1, 5, 5))
    player.turn_rendered(1)
    qtbot.waitUntil(lambda: not player.playing, timeout=5_000)
    assert shown[-1] == 9 and sorted(set(shown)) == list(range(10))


def test_stop_drops_buffered_frames_at_once(qapp, qtbot):
    audio = SilentAudioOutput()
    player = AvatarPlayer(audio)
    idle = np.full((3, 8, 8, 3), 200, np.uint8)
    player.set_idle_frames(idle, FPS)
    shown = []
    player.frame_ready.connect(lambda f, t: shown.append((int(f[0, 0, 0]), t)))
    player.push(chunk(1, 0, 50))
    qtbot.wait(100)
    player.stop()
    assert not player.playing and audio.written() == 0.0 and player.buffered_frames == 0
    n = len(shown)
    qtbot.wait(200)
    assert all(t < 0 and v == 200 for v, t in shown[n - 1 :]), "after Stop only idle frames may show"
    assert player.push(chunk(2, 0, 5)) is True and player.playing  # the next turn plays


def test_the_bridge_delivers_only_live_turns_at_the_moment_of_delivery(qapp, qtbot):
    """Chunks emitted by an engine thread before a Stop but delivered after it never reach the
    player; neither does anything of an engine that was replaced (its ids are at or below the floor)."""
    import threading

    from app.engine_bridge import EngineSignals
    from pipelines.worker import TurnGate

    signals, gate = EngineSignals(), TurnGate()
    signals.attach(gate, floor=0)
    got, texts = [], []
    signals.video.connect(lambda c: got.append((c.turn_id, c.seq)))
    signals.text.connect(lambda t, piece, mode: texts.append((t, piece)))

    def engine_thread(turn_id, n):
        for k in range(n):
            signals._raw_video.emit(chunk(turn_id, k, 2))
            signals.listener("dialogue", TextChunk(turn_id, text=f"p{k}", seq=k))

    t = threading.Thread(target=engine_thread, args=(1, 4))
    t.start()
    t.join()  # four chunks queued for the UI thread, none delivered yet
    assert got == [] and texts == []
    gate.cancel(1)  # the user pressed Stop
    qtbot.wait(50)
    assert got == [] and texts == [], "output queued before the Stop was delivered after it"
    threading.Thread(target=engine_thread, args=(2, 2)).start()
    qtbot.waitUntil(lambda: len(got) == 2 and len(texts) == 2, timeout=2000)
    assert got == [(2, 0), (2, 1)]
    signals.attach(TurnGate(), floor=2)  # a reload: the new engine numbers turns after 2
    threading.Thread(target=engine_thread, args=(2, 1)).start()
    threading.Thread(target=engine_thread, args=(3, 1)).start()
    qtbot.waitUntil(lambda: len(got) == 3, timeout=2000)
    qtbot.wait(50)
    assert got[-1] == (3, 0) and len(got) == 3


def test_idle_frames_loop_between_turns(qapp, qtbot):
    player = AvatarPlayer(SilentAudioOutput())
    idle = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30, 40)])
    seen = []
    player.frame_ready.connect(lambda f, t: seen.append(int(f[0, 0, 0])) if t < 0 else None)
    player.set_idle_frames(idle, 25.0)
    qtbot.wait(400)
    assert {10, 20, 30, 40} <= set(seen), "the idle animation did not cycle"


class _SimulatedPortAudio:
    """Just enough of the sounddevice API to drive DeviceAudioOutput's callback by hand.

    The test plays the role of PortAudio: it calls the stream callback with a DAC
    timestamp and moves the stream clock, as a sound card would.
    """

    class Stream:
        def __init__(self, samplerate, channels, dtype, device, blocksize, callback):
            self.samplerate, self.blocksize, self.callback = samplerate, blocksize, callback
            self.time = 0.0
            self.started = False

        def start(self):
            self.started = True

        def stop(self):
            self.started = False

        def close(self):
            pass

    def __init__(self):
        self.streams = []

    def query_devices(self, device=None, kind=None):
        return {"name": "simulated", "default_samplerate": 8000.0}

    def OutputStream(self, **kw):  # noqa: N802 (sounddevice's name)
        s = self.Stream(**kw)
        self.streams.append(s)
        return s


def test_device_output_clock_follows_the_dac_and_pauses_on_underrun():
    from types import SimpleNamespace

    from app.audio_output import DeviceAudioOutput

    sd = _SimulatedPortAudio()
    out = DeviceAudioOutput(sd, blocksize=800)
    stream = sd.streams[0]
    assert out.sample_rate == 8000 and stream.started
    tone = np.linspace(-0.5, 0.5, 1200, dtype=np.float32)
    out.write(tone, 8000)  # 0.15 s
    buf = np.zeros((800, 1), np.float32)
    # the card asks for 0.1 s that will play from t=1.0 (its output latency is 0.05 s)
    stream.time = 0.95
    out._callback(buf, 800, SimpleNamespace(outputBufferDacTime=1.0), None)
    assert np.array_equal(buf[:, 0], tone[:800])
    assert out.position() == 0.0, "nothing has reached the speaker before the DAC time"
    stream.time = 1.05
    assert out.position() == pytest.approx(0.05, abs=1 / 8000)
    # next block: only 400 real samples left, the rest is underrun silence
    out._callback(buf, 800, SimpleNamespace(outputBufferDacTime=1.1), None)
    assert np.array_equal(buf[:400, 0], tone[800:]) and not buf[400:].any()
    stream.time = 1.3  # long after: the clock stops at the real audio
    assert out.position() == pytest.approx(0.15, abs=1 / 8000)
    assert out.written() == pytest.approx(0.15)
    # resampled on write when a chunk comes at another rate
    out.write(np.zeros(1600, np.float32), 16000)
    assert out.written() == pytest.approx(0.25)
    out.clear()
    assert out.position() == 0.0 and out.written() == 0.0
    out._callback(buf, 800, SimpleNamespace(outputBufferDacTime=1.4), None)
    assert not buf.any(), "cleared audio was played"
    out.close()
    assert not stream.started

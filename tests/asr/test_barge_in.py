"""Barge-in with a simulated microphone: the avatar's played voice comes back at echo level, the user talks over it.

The engine runs the real retrieval dialogue and espeak voice; what leaves the
face stage is "played" through ``PlayedAudio``; the microphone is the played
signal delayed and attenuated (echo) plus, in one test, the user's espeak speech.
"""

import time

import numpy as np
import pytest

from pipelines.asr.barge_in import BargeIn, BargeInDetector, PlayedAudio
from pipelines.engine import Engine
from pipelines.settings import Settings
from pipelines.testing.toy_stages import CollectSink, FlatFace
from tests.asr.conftest import silence

BLOCK = 512
ECHO_GAIN, ECHO_DELAY = 0.3, 1600  # -10 dB, 100 ms speaker -> microphone


@pytest.fixture
def engine(tmp_path):
    s = Settings(output_dir=str(tmp_path))
    s.voice.vc_backend = "none"
    s.dialogue.retrieval.stream_delay_ms = 60  # the reply is still being written while its first sentence plays
    eng = Engine(s, stages={"face": FlatFace()}, sink=CollectSink(), log_path=tmp_path / "log.jsonl").start()
    yield eng
    eng.close()


def simulate(engine, played, barge, user=None, user_at_s=1.0, max_s=20.0, pace=0.25):
    """Read the speaker block by block, build the microphone from it, feed barge-in.

    Returns (blocks read as (turn id, time), time of the barge-in or None)."""
    rng = np.random.default_rng(0)
    history = np.zeros(ECHO_DELAY, np.float32)
    t, started, hit_at, reads = 0.0, None, None, []
    turn_id = engine.active_turn
    while t < max_s:
        block, turn = played.read(BLOCK)
        if started is None and turn is None:
            time.sleep(0.005)  # nothing plays yet: wait for the first sentence
            continue
        started = 0.0 if started is None else started
        history = np.concatenate([history, block])
        mic = ECHO_GAIN * history[:BLOCK] + 0.002 * rng.standard_normal(BLOCK).astype(np.float32)
        history = history[BLOCK:]
        if user is not None:
            k = int((t - user_at_s) * 16000)
            if 0 <= k < len(user):
                seg = user[k : k + BLOCK]
                mic[: len(seg)] += seg
        reads.append((turn, t))
        if barge.feed(mic, block, turn) is not None and hit_at is None:
            hit_at = t
        t += BLOCK / 16000
        time.sleep(pace * BLOCK / 16000)
        if (
            turn is None
            and engine.active_turn is None
            and played.playing_turn is None
            and hit_at is None
            and engine.record(turn_id).status != "running"
        ):
            break
        if hit_at is not None and t > hit_at + 1.5:
            break
    return reads, hit_at


def test_user_speech_during_playback_interrupts_and_nothing_of_the_turn_plays_after(engine, espeak):
    played = PlayedAudio().attach(engine, stage="face")
    barge = BargeIn(engine, played, headphones=False)
    tid = engine.submit("What can you do?")
    user = np.concatenate([espeak("Stop, wait a moment please.", voice="en-us+f3"), silence(0.2)])
    reads, hit_at = simulate(engine, played, barge, user=user, user_at_s=1.5)
    assert hit_at is not None, "speech over the avatar did not interrupt it"
    assert 1.5 <= hit_at < 1.5 + len(user) / 16000
    assert barge.interrupted == [tid]
    rec = engine.wait(tid, timeout=30)
    assert rec.status == "interrupted"
    time.sleep(0.3)  # anything still in flight in the pipeline would arrive now
    after = [turn for turn, t in reads if t > hit_at]
    assert after and all(turn is None for turn in after), "audio of the interrupted turn played after the barge-in"
    assert played.read(16000)[1] is None


def test_echo_of_the_avatar_alone_does_not_interrupt(engine):
    played = PlayedAudio().attach(engine, stage="face")
    barge = BargeIn(engine, played, headphones=False)
    tid = engine.submit("What can you do?")
    reads, hit_at = simulate(engine, played, barge, user=None, max_s=40.0)
    assert hit_at is None and barge.interrupted == []
    assert engine.wait(tid, timeout=30).status == "ok"
    played_s = sum(BLOCK for turn, _ in reads if turn == tid) / 16000
    assert played_s > 3.0  # the whole reply played through the echo path


def test_echo_would_trigger_without_the_echo_check(espeak):
    """The same echo, with the headphones switch on (no echo check), counts as speech: the check is what holds."""
    x = np.concatenate([silence(0.3), espeak("I can chat with you and answer simple questions."), silence(0.3)])
    mic = ECHO_GAIN * np.concatenate([np.zeros(ECHO_DELAY, np.float32), x])[: len(x)]

    def hits(detector):
        return any(detector.feed(mic[i : i + BLOCK], x[i : i + BLOCK]) for i in range(0, len(x) - BLOCK, BLOCK))

    assert not hits(BargeInDetector(headphones=False))
    assert hits(BargeInDetector(headphones=True))

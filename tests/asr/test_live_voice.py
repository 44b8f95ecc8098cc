"""LiveVoice headless: a recording handed out like a microphone, the recogniser on its own worker thread."""

import threading
import time

import numpy as np

from pipelines.asr.live_voice import LiveVoice, level_of
from pipelines.asr.sources import ArraySource
from pipelines.settings import Settings
from tests.asr.conftest import silence


def run_until(voice, cond, timeout=30.0):
    t = time.perf_counter() + timeout
    while time.perf_counter() < t and not cond():
        time.sleep(0.02)
    return cond()


def test_hands_free_utterances_are_recognised_off_the_callers_thread(espeak):
    x = np.concatenate([silence(0.4), espeak("Where do you live?"), silence(0.8), espeak("Goodbye."), silence(0.2)])
    finals, partials, levels, threads = [], [], [], set()

    def final(text, speech):
        threads.add(threading.current_thread().name)
        finals.append((text, speech))

    v = LiveVoice(
        Settings(),
        lambda: ArraySource(x, then_silence_s=1.0),
        on_final=final,
        on_partial=partials.append,
        on_level=levels.append,
    )
    v.set_hands_free(True)
    v.start()
    assert run_until(v, lambda: len(finals) >= 2 and not v.running)
    v.close()
    assert [t for t, _ in finals] == ["where do you live", "goodbye"]
    assert threads == {"stage-asr"} and threading.current_thread().name not in threads
    s = finals[0][1]
    assert 1.0 < s["audio_s"] < 2.2 and s["backend"] == "pocketsphinx" and s["source"] == "recording"
    assert s["eos_to_text_s"] > 0.5  # includes the end pause the VAD waits for (0.6 s)
    assert partials  # text while it was spoken
    assert max(levels) > 0.5 and min(levels) < 0.2  # the level followed speech and silence


def test_recogniser_that_cannot_load_is_a_notice_not_a_crash(tmp_path, espeak):
    s = Settings()
    s.asr.model_dir = str(tmp_path / "missing")
    notices = []
    v = LiveVoice(s, lambda: ArraySource(espeak("hello")), on_notice=notices.append)
    v.set_hands_free(True)
    v.start()
    assert run_until(v, lambda: bool(notices))
    v.close()
    assert "speech recognition (pocketsphinx) could not load" in notices[0] and "not a folder" in notices[0]


def test_level_scale():
    assert level_of(np.zeros(512, np.float32)) == 0.0
    assert level_of(np.full(512, 1.0, np.float32)) == 1.0
    assert abs(level_of(np.full(512, 0.001, np.float32)) - 0.0) < 1e-6  # -60 dBFS: the floor
    assert abs(level_of(np.full(512, 0.0316, np.float32)) - 0.5) < 0.01  # -30 dBFS: half way


def test_push_to_talk_is_one_utterance_and_the_microphone_closes_after(espeak):
    # two phrases with a pause longer than end_pause_s: hands-free would make two turns, a hold makes one
    x = np.concatenate([silence(0.2), espeak("Where do you"), silence(0.9), espeak("live?"), silence(0.3)])
    finals = []
    src = ArraySource(x)
    v = LiveVoice(Settings(), lambda: src, on_final=lambda t, s: finals.append((t, s)))
    v.preload().join()
    v.press()
    assert run_until(v, lambda: src.delivered >= len(x))
    assert not finals and v.running
    v.release()
    assert run_until(v, lambda: bool(finals))
    assert run_until(v, lambda: not v.running, timeout=5)  # closed until the next press
    v.close()
    text, speech = finals[0]
    # one utterance holding both phrases, in order (pocketsphinx may add a short word on synthetic speech)
    assert len(finals) == 1 and text.startswith("where do you live"), text
    assert speech["audio_s"] > 2.0

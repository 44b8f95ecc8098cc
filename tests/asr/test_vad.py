"""Silero VAD (its shipped ONNX model) cuts utterances of real speech and ignores noise."""

import numpy as np

from pipelines.asr.vad import SileroVAD, UtteranceCutter, speech_segments
from tests.asr.conftest import silence


def test_two_utterances_separated_by_silence(espeak):
    a, b = espeak("What is your name?"), espeak("Where do you live?")
    x = np.concatenate([silence(1.0), a, silence(1.5), b, silence(1.0)])
    segs = speech_segments(x)
    assert len(segs) == 2
    a_start, a_end = 1.0, 1.0 + len(a) / 16000
    b_start = a_end + 1.5
    assert abs(segs[0].start_s - a_start) < 0.3 and abs(segs[0].end_s - a_end) < 0.4
    assert abs(segs[1].start_s - b_start) < 0.3
    assert segs[0].end_s < b_start < segs[1].end_s


def test_noise_alone_is_not_speech():
    rng = np.random.default_rng(0)
    white = (0.05 * rng.standard_normal(16000 * 3)).astype(np.float32)
    hum = (0.2 * np.sin(2 * np.pi * 50 * np.arange(16000 * 3) / 16000)).astype(np.float32)
    assert speech_segments(white) == []
    assert speech_segments(hum) == []
    probs = SileroVAD().probabilities(white)
    assert probs.max() < 0.5


def test_end_pause_is_configurable(espeak):
    a, b = espeak("What is your name?"), espeak("Where do you live?")
    x = np.concatenate([silence(0.5), a, silence(0.35), b, silence(1.0)])
    assert len(speech_segments(x, end_pause_s=0.6)) == 1  # a 0.35 s pause does not end the turn
    assert len(speech_segments(x, end_pause_s=0.15)) == 2


def test_streaming_blocks_of_any_size_give_the_same_cut(espeak):
    x = np.concatenate([silence(0.5), espeak("Hello there, how are you?"), silence(1.0)])
    cutter = UtteranceCutter()
    got = []
    for i in range(0, len(x), 700):  # not a multiple of the 512-sample frame
        got += list(cutter.feed(x[i : i + 700]))
    got += list(cutter.flush())
    whole = speech_segments(x)
    assert len(got) == len(whole) == 1
    assert got[0].start_s == whole[0].start_s and len(got[0].samples) == len(whole[0].samples)


def test_microphone_stream_gives_one_recognised_turn_per_utterance(espeak):
    """VoiceInput.feed (what --mic runs) on a simulated 32 ms-block microphone stream."""
    from pipelines.asr.voice_input import VoiceInput
    from pipelines.settings import Settings

    # two speakers' takes of the one question pocketsphinx gets word for word from espeak every time
    # (measured; "how are you today" varies with espeak's call-to-call rendering)
    x = np.concatenate(
        [
            silence(0.5),
            espeak("Where do you live?", rate=140),
            silence(1.0),
            espeak("Where do you work?", voice="en-us+m3", rate=140),
            silence(1.0),
        ]
    )
    partials = []
    voice = VoiceInput(Settings(), on_partial=partials.append).load()
    got = []
    for i in range(0, len(x), 512):
        got += voice.feed(x[i : i + 512])
    from pipelines.asr.wer import wer

    assert len(got) == 2, [r.text for r in got]
    assert got[0].text == "where do you live"
    assert wer("Where do you work?", got[1].text) <= 0.25, got[1].text  # "where do you wear" (measured)
    assert all(r.speech["audio_s"] > 0.8 and r.speech["backend"] == "pocketsphinx" for r in got)
    assert partials  # partial text was offered while speaking

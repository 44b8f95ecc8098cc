import threading

import numpy as np
import pytest

from pipelines.media.audio import rms
from pipelines.messages import AudioChunk, Sentence
from pipelines.stage import TurnContext
from pipelines.testing.harness import run_stage
from pipelines.voice.espeak_tts import EspeakError, EspeakTTS

from .conftest import median_f0_praat, speak


def test_chinese_sentence_has_speech_length(tts):
    text = "今天天气很好我们出去"  # 10 characters
    (chunk,) = speak(tts, text)
    assert isinstance(chunk, AudioChunk)
    assert chunk.sample_rate == 22050
    assert chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1
    assert chunk.text == text
    assert 1.0 <= chunk.duration <= 5.0
    assert rms(chunk.samples) > 0.02
    assert np.abs(chunk.samples).max() <= 1.0


def test_english_sentence_has_speech_length(tts):
    (chunk,) = speak(tts, "The quick brown fox jumps over the lazy dog.")
    assert 1.0 <= chunk.duration <= 5.0
    assert rms(chunk.samples) > 0.02


@pytest.mark.parametrize(
    "short, long",
    [
        ("你好。", "你好，我是小林，很高兴认识你，今天我们聊一聊这个项目。"),
        ("Hello.", "Hello, I am Lin, and I am very happy to meet you here today."),
    ],
)
def test_duration_grows_with_text(tts, short, long):
    (a,) = speak(tts, short)
    (b,) = speak(tts, long)
    assert b.duration > 2.5 * a.duration


def test_voice_chosen_by_text(tts, persona):
    assert tts.language_for("你好，world") == "zh"
    assert tts.language_for("Hello, world.") == "en"
    assert tts.voice_for("zh") == persona.voice.espeak_voice_zh == "cmn+f3"
    assert tts.voice_for("en") == persona.voice.espeak_voice_en


def test_forced_language_changes_the_audio(settings, persona, tts):
    """The English voice reads Chinese characters differently (it names them), so the audio differs."""
    text = "我们今天很高兴。"
    forced = EspeakTTS.from_settings(settings.replace("language", "en"), persona)
    forced.load()
    assert forced.language_for(text) == "en"
    (zh,) = speak(tts, text)
    (en,) = speak(forced, text)
    assert len(zh.samples) != len(en.samples) or not np.array_equal(zh.samples, en.samples)


def test_numbers_are_normalised_before_synthesis(tts):
    """espeak's own Mandarin reading of 2023 is 两千零二十三 (6 syllables); ours is 二零二三 (4).

    espeak adds a little randomness, so durations are compared, not samples.
    """
    (digits,) = speak(tts, "2023年3月")
    (words,) = speak(tts, "二零二三年三月")
    raw = tts.engine.synthesize("2023年3月", tts.voice_for("zh"), tts.rate_wpm, tts.pitch)
    assert abs(len(digits.samples) - len(words.samples)) < 0.01 * len(words.samples)
    assert len(raw) > 1.08 * len(words.samples)


def test_rate_and_pitch_settings_apply(settings, persona):
    text = "Hello, I am Lin, nice to meet you."

    def build(**kv):
        s = settings
        for k, v in kv.items():
            s = s.replace(f"voice.espeak.{k}", v)
        stage = EspeakTTS.from_settings(s, persona)
        stage.load()
        (chunk,) = speak(stage, text)
        return chunk

    slow, fast = build(rate=110), build(rate=300)
    assert slow.duration > 1.8 * fast.duration
    low, high = build(pitch=10), build(pitch=90)
    assert median_f0_praat(high.samples, high.sample_rate) > 1.3 * median_f0_praat(low.samples, low.sample_rate)


def test_unknown_voice_is_a_clear_error(settings, persona):
    stage = EspeakTTS.from_settings(settings.replace("voice.espeak.voice", "klingon-xx"), persona)
    with pytest.raises(EspeakError, match="klingon-xx.*not found.*voice.espeak.voice"):
        stage.load()


def test_punctuation_only_gives_no_audio(tts):
    assert speak(tts, "。！？……") == []


def test_seq_counts_outputs_within_a_turn(settings, persona):
    stage = EspeakTTS.from_settings(settings, persona)
    sentences = [Sentence(7, t) for t in ["你好。", "。", "再见。"]] + [Sentence(8, "又见面了。")]
    out = run_stage(stage, sentences, load=True)  # the worker numbers what the stage yields
    assert [(c.turn_id, c.seq) for c in out] == [(7, 0), (7, 1), (8, 0)]  # "。" alone says nothing


def test_cancelled_turn_yields_nothing(tts):
    ctx = TurnContext(3, is_cancelled=lambda: True)
    assert list(tts.process(Sentence(3, "这句话不会被读出来。"), ctx)) == []


def test_concurrent_use_from_threads_gives_the_same_audio(tts):
    texts = ["你好，我是小林。", "Nice to meet you.", "今天是二零二三年三月。", "Let us talk."] * 3
    expected = [tts.synthesize(t) for t in texts]
    results: dict[int, np.ndarray] = {}

    def work(i):
        results[i] = tts.synthesize(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # espeak jitters a few samples between runs; mixed-up or lost chunks would change lengths a lot
    for i, e in enumerate(expected):
        assert abs(len(results[i]) - len(e)) < 0.01 * len(e), texts[i]
        assert rms(results[i]) > 0.02

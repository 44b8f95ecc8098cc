import dataclasses

import numpy as np
import pytest

from pipelines.messages import AudioChunk
from pipelines.stage import TurnContext
from pipelines.testing.harness import run_stage
from pipelines.voice.passthrough import NoConversion
from pipelines.voice.pitch import semitones
from pipelines.voice.world_vc import WorldConversion, warp_envelope

from .conftest import median_f0_praat


def convert(settings, persona, chunk, **voice):
    p = dataclasses.replace(persona, voice=dataclasses.replace(persona.voice, **voice)) if voice else persona
    stage = WorldConversion.from_settings(settings, p)
    (out,) = run_stage(stage, [chunk], load=True)
    return out


@pytest.mark.parametrize("speech", ["zh_speech", "en_speech"])
def test_median_f0_moves_to_the_persona_target(settings, persona, speech, request):
    chunk = request.getfixturevalue(speech)
    before = median_f0_praat(chunk.samples, chunk.sample_rate)
    target = before * 2 ** (-6 / 12)  # a persona half an octave below espeak's voice
    out = convert(settings, persona, chunk, f0_median_hz=target)
    after = median_f0_praat(out.samples, out.sample_rate)
    assert abs(semitones(after, target)) < 1.0, (before, after, target)


@pytest.mark.parametrize("target", [140.0, 300.0])
def test_other_targets_and_transpose(settings, persona, zh_speech, target):
    out = convert(settings, persona, zh_speech, f0_median_hz=target)
    assert abs(semitones(median_f0_praat(out.samples, out.sample_rate), target)) < 1.0
    up = WorldConversion.from_settings(
        settings.replace("voice.world.transpose", 5),
        dataclasses.replace(persona, voice=dataclasses.replace(persona.voice, f0_median_hz=target)),
    )
    up.load()
    (out5,) = up.process(zh_speech, TurnContext(1))
    assert abs(semitones(median_f0_praat(out5.samples, out5.sample_rate), target * 2 ** (5 / 12))) < 1.0


def test_length_rate_and_text_are_kept(settings, persona, zh_speech):
    out = convert(settings, persona, zh_speech)
    assert out.sample_rate == zh_speech.sample_rate
    assert abs(len(out.samples) - len(zh_speech.samples)) <= 0.005 * zh_speech.sample_rate
    assert out.text == zh_speech.text and out.turn_id == zh_speech.turn_id
    assert out.samples.dtype == np.float32 and np.abs(out.samples).max() <= 1.0
    assert np.sqrt(np.mean(out.samples**2)) > 0.02


def test_spread_scales_pitch_movement(settings, persona, en_speech):
    import parselmouth

    def log_f0_std(chunk):
        f = (
            parselmouth.Sound(chunk.samples.astype(np.float64), sampling_frequency=chunk.sample_rate)
            .to_pitch(pitch_floor=60.0, pitch_ceiling=800.0)
            .selected_array["frequency"]
        )
        return float(np.std(np.log(f[f > 0])))

    flat = convert(settings, persona, en_speech, f0_spread=0.5)
    wide = convert(settings, persona, en_speech, f0_spread=2.0)
    assert log_f0_std(wide) > 2.5 * log_f0_std(flat)


def test_envelope_warp_moves_a_formant(settings):
    bins = np.arange(513, dtype=np.float64)
    sp = np.exp(-0.5 * ((bins - 100) / 5.0) ** 2)[None, :].repeat(3, axis=0) + 1e-6
    up = warp_envelope(sp, 1.2)
    down = warp_envelope(sp, 0.8)
    assert np.argmax(up[0]) == 120 and np.argmax(down[0]) == 80
    assert warp_envelope(sp, 1.0) is sp


def test_formant_shift_raises_spectral_centroid(settings, persona, zh_speech):
    def centroid(x, sr):
        spec = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / sr)
        return float((spec * freqs).sum() / spec.sum())

    same = convert(settings, persona, zh_speech, formant_shift=1.0)
    bright = convert(settings, persona, zh_speech, formant_shift=1.25)
    assert centroid(bright.samples, 22050) > 1.1 * centroid(same.samples, 22050)


def test_silence_and_tiny_chunks_pass_unchanged(settings, persona):
    stage = WorldConversion.from_settings(settings, persona)
    stage.load()
    for samples in (np.zeros(22050, np.float32), np.full(100, 0.1, np.float32)):
        (out,) = stage.process(AudioChunk(1, samples=samples, sample_rate=22050), TurnContext(1))
        np.testing.assert_array_equal(out.samples, samples)


def test_bad_voice_profile_is_a_clear_error(settings, persona):
    bad = dataclasses.replace(persona, voice=dataclasses.replace(persona.voice, f0_median_hz=0.0))
    with pytest.raises(ValueError, match="f0_median_hz"):
        WorldConversion.from_settings(settings, bad).load()


def test_no_conversion_forwards_audio(settings, persona, zh_speech):
    stage = NoConversion.from_settings(settings, persona)
    (out,) = stage.process(zh_speech, TurnContext(1))
    np.testing.assert_array_equal(out.samples, zh_speech.samples)
    assert out.sample_rate == zh_speech.sample_rate and out.seq == 0

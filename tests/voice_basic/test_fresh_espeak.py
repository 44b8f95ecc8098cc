"""``speak_fresh``: test and benchmark speech that is the same whatever the process spoke before."""

import numpy as np


def test_fresh_speech_is_identical_after_other_synthesis_in_this_process():
    from pipelines.testing.fresh_espeak import fresh_pcm, speak_fresh
    from pipelines.voice.espeak_tts import EspeakLibrary

    (a, b), sr = speak_fresh(["Good morning, how are you today?", "Fine."])
    EspeakLibrary.get().synthesize("Something else first, to move the library's state on.", "en-us", 165, 50)
    (again,), sr2 = speak_fresh(["Good morning, how are you today?"])
    assert sr == sr2 == int(EspeakLibrary.get().sample_rate)
    assert a.dtype == np.int16 and len(a) > 1.0 * sr and len(b) < len(a)
    assert np.array_equal(a, again)
    kept, _ = fresh_pcm("Good morning, how are you today?")
    assert (
        np.array_equal(kept, a)
        and not kept.flags.writeable
        and fresh_pcm("Good morning, how are you today?")[0] is kept
    )

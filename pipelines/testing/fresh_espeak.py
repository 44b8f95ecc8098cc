"""espeak-ng speech that does not depend on what the process spoke before.

libespeak-ng keeps synthesis state between utterances (its pitch flutter runs on across
calls; neither ``espeak_Initialize`` nor ``espeak_ng_SetRandSeed`` resets it), so the
same sentence comes out a few samples longer or shorter, and slightly different, each
time.  Test clips and benchmark inputs must be the same in every run whatever ran
before them in the process, so ``speak_fresh`` synthesises in a new child process
(``python -m pipelines.testing.fresh_espeak``): its library state is always the first
call's.  About half a second per call.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def speak_fresh(
    texts: list[str] | tuple[str, ...], voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50
) -> tuple[list[np.ndarray], int]:
    """(int16 samples of each text, sample rate), synthesised one after another in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.npz"
        request = json.dumps({"texts": list(texts), "voice": voice, "rate": int(rate_wpm), "pitch": int(pitch)})
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.testing.fresh_espeak", str(out)],
            input=request,
            capture_output=True,
            text=True,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"espeak child process failed: {last}")
        with np.load(out) as z:
            return [z[f"t{i}"] for i in range(len(texts))], int(z["sr"])


@functools.lru_cache(maxsize=256)
def fresh_pcm(text: str, voice: str = "en-us", rate_wpm: int = 165, pitch: int = 50) -> tuple[np.ndarray, int]:
    """(int16 samples, sample rate) of one text from ``speak_fresh``, kept per process (read-only array)."""
    (pcm,), sr = speak_fresh([text], voice, rate_wpm, pitch)
    pcm.flags.writeable = False
    return pcm, sr


def _main(path: str) -> None:
    from pipelines.voice.espeak_tts import EspeakLibrary

    req = json.loads(sys.stdin.read())
    lib = EspeakLibrary.get()
    arrays = {f"t{i}": lib.synthesize(t, req["voice"], req["rate"], req["pitch"]) for i, t in enumerate(req["texts"])}
    np.savez(path, sr=np.int64(lib.sample_rate), **arrays)


if __name__ == "__main__":
    _main(sys.argv[1])

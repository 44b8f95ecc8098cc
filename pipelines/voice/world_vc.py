"""Voice conversion backend ``world``: the persona's pitch and timbre by WORLD analysis/resynthesis.

The stand-in for so-vits-svc when no model is configured.  Per sentence:

1. analyse with pyworld: F0 by DIO + StoneMask (``voice.world.f0_method`` "harvest":
   Harvest, about 4x slower and more robust; the so-vits methods "crepe*" and
   "parselmouth" fall back to DIO here), spectral envelope by CheapTrick,
   aperiodicity by D4C, 10 ms frames;
2. move F0 in the log domain so the voiced median lands on the persona's
   ``voice.f0_median_hz``, the movement around the median scaled by
   ``voice.f0_spread``, then shifted by ``voice.world.transpose`` semitones;
3. warp the spectral envelope along frequency by ``voice.formant_shift``
   (>1 moves formants up: a smaller vocal tract), and resynthesise.

Same sample rate and length in and out.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from pipelines.media.audio import as_mono_float32, fit_length, peak_limit

from ..messages import AudioChunk, Message
from ..optional import require
from ..settings import WorldSettings
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv

FRAME_PERIOD_MS = 10.0  # 10 ms: about a third faster than 5 ms, fine for TTS input (so-vits hops ~11.6 ms)
F0_FLOOR, F0_CEIL = 60.0, 900.0  # analysis range (espeak voices and people alike)
F0_OUT_MIN, F0_OUT_MAX = 50.0, 1100.0


def shift_f0(f0: np.ndarray, target_median_hz: float, spread: float = 1.0, semitones: float = 0.0) -> np.ndarray:
    """F0 track with its voiced median moved to ``target_median_hz`` (log domain).

    Unvoiced frames (0) stay 0.  ``spread`` scales log-F0 movement around the
    median; ``semitones`` shifts the result (so the median ends at
    target * 2**(semitones/12)).
    """
    out = np.zeros_like(f0)
    voiced = f0 > 0
    if not voiced.any():
        return out
    logf = np.log(f0[voiced])
    centre = np.median(logf)
    target = math.log(target_median_hz) + semitones * math.log(2.0) / 12.0
    out[voiced] = np.clip(np.exp(target + spread * (logf - centre)), F0_OUT_MIN, F0_OUT_MAX)
    return out


def warp_envelope(sp: np.ndarray, ratio: float) -> np.ndarray:
    """Spectral envelope (frames, bins) stretched along frequency by ``ratio``.

    The output at bin k takes the input at bin k / ratio (linear interpolation),
    so a formant at f moves to f * ratio; bins beyond the input's range hold the
    last bin's value.
    """
    if abs(ratio - 1.0) < 1e-6:
        return sp
    n = sp.shape[1]
    src = np.minimum(np.arange(n, dtype=np.float64) / ratio, n - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (src - i0)[None, :]
    return np.ascontiguousarray(sp[:, i0] * (1.0 - w) + sp[:, i1] * w)


class WorldConverter:
    """Stateless WORLD analysis → pitch/formant change → synthesis (thread-safe)."""

    def __init__(
        self,
        target_median_hz: float,
        spread: float = 1.0,
        formant_shift: float = 1.0,
        semitones: float = 0.0,
        f0_method: str = "dio",
    ) -> None:
        if not target_median_hz or target_median_hz <= 0:
            raise ValueError(f"persona voice.f0_median_hz must be a positive pitch in Hz, got {target_median_hz!r}")
        if formant_shift <= 0:
            raise ValueError(f"persona voice.formant_shift must be > 0 (1 keeps the timbre), got {formant_shift!r}")
        if spread < 0:
            raise ValueError(f"persona voice.f0_spread must be >= 0 (1 keeps the intonation), got {spread!r}")
        self.pw = require("pyworld", "pyworld-prebuilt", "the 'world' voice conversion")
        self.target = float(target_median_hz)
        self.spread = float(spread)
        self.formant_shift = float(formant_shift)
        self.semitones = float(semitones)
        self.f0_method = "harvest" if f0_method == "harvest" else "dio"

    def f0(self, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        pw = self.pw
        if self.f0_method == "harvest":
            return pw.harvest(x, sr, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
        f0, t = pw.dio(x, sr, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
        return pw.stonemask(x, f0, t, sr), t

    def convert(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Converted float32 audio, same rate and length as ``samples``."""
        y_in = as_mono_float32(samples)
        n = len(y_in)
        if n < int(0.05 * sample_rate) or not np.any(y_in):
            return y_in.copy()  # too short to analyse, or silence: nothing to convert
        x = y_in.astype(np.float64)
        pw = self.pw
        f0, t = self.f0(x, sample_rate)
        if not np.any(f0 > 0):
            return y_in.copy()  # nothing voiced (a whisper, a click): keep it as it is
        sp = pw.cheaptrick(x, f0, t, sample_rate)  # default floor: FFT size shared with d4c
        ap = pw.d4c(x, f0, t, sample_rate)
        f0_new = shift_f0(f0, self.target, self.spread, self.semitones)
        sp_new = warp_envelope(sp, self.formant_shift)
        y = pw.synthesize(f0_new, sp_new, ap, sample_rate, FRAME_PERIOD_MS)
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        return peak_limit(fit_length(y, n))


class WorldConversion(Stage):
    """``vc`` backend ``world``: each ``AudioChunk`` moved to the persona's pitch and timbre."""

    name = "vc"

    settings_section = "voice.world"

    def __init__(self, cfg: WorldSettings, persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.converter: WorldConverter | None = None

    def load(self) -> None:
        v = self.persona.voice
        self.converter = WorldConverter(
            v.f0_median_hz,
            v.f0_spread,
            v.formant_shift,
            semitones=self.cfg.transpose,
            f0_method=self.cfg.f0_method,
        )
        # first call pays for pyworld's lazy set-up, not the first sentence of the first turn
        sr = 22050
        tone = 0.3 * np.sin(2 * np.pi * 150 * np.arange(int(0.2 * sr)) / sr)
        self.converter.convert(tone.astype(np.float32), sr)

    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, AudioChunk):
            raise TypeError(f"vc expects AudioChunk messages, got {type(msg).__name__}")
        if self.converter is None:
            self.load()
        out = self.converter.convert(msg.samples, msg.sample_rate)
        yield AudioChunk(
            msg.turn_id,
            samples=out,
            sample_rate=msg.sample_rate,
            text=msg.text,
            phonemes=msg.phonemes,
        )  # conversion keeps the timing

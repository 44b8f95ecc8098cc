"""Where live voice input gets its audio: blocks of 16 kHz mono float32, as a sound card delivers them.

The capture thread of ``LiveVoice`` only knows this small contract
(``open`` / ``read(timeout)`` / ``close`` / ``finished``), so the device can be
replaced by a recording:

* ``DeviceSource``: the input device through sounddevice (``mic.Microphone``);
* ``ArraySource``: an array or a WAV file cut into device-sized blocks, handed
  out at the pace of real time (a block every 32 ms), then silence, like a
  microphone in a quiet room.  ``echo_of`` adds what a speaker plays
  (``barge_in.PlayedAudio`` filled from the player), delayed and attenuated, to
  simulate the avatar's voice coming back through the microphone.
"""

from __future__ import annotations

import time

import numpy as np

from .audio_input import ASR_RATE, read_speech_file, to_mono_16k
from .mic import Microphone

BLOCK = 512  # 32 ms at 16 kHz, a common PortAudio input block


class BlockSource:
    rate = ASR_RATE
    name = "source"
    finished = False  # True once it will never deliver again (end of a recording)

    def open(self) -> None:
        pass

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class DeviceSource(BlockSource):
    """The configured input device; ``MicUnavailable`` (one line) when there is none."""

    def __init__(self, device: str = "", block: int = BLOCK) -> None:
        self.mic = Microphone(device, block=block)
        self.name = str(self.mic.device.get("name", "microphone"))

    def open(self) -> None:
        self.mic.__enter__()

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        return self.mic.read(timeout)

    def close(self) -> None:
        self.mic.__exit__(None, None, None)


class ArraySource(BlockSource):
    def __init__(
        self,
        samples: np.ndarray,
        sample_rate: int = ASR_RATE,
        *,
        block: int = BLOCK,
        realtime: bool = True,
        then_silence_s: float | None = None,
        echo_of=None,
        echo_gain: float = 0.3,
        echo_delay_s: float = 0.1,
        noise: float = 0.002,
        name: str = "recording",
    ) -> None:
        """``then_silence_s``: silence after the recording (None: forever, until closed)."""
        self.samples = (
            to_mono_16k(samples, sample_rate)[0] if sample_rate != ASR_RATE else np.asarray(samples, np.float32)
        )
        self.block = block
        self.realtime = realtime
        self.then_silence = then_silence_s
        self.echo_of = echo_of
        self.echo_gain = echo_gain
        self._echo = np.zeros(int(echo_delay_s * ASR_RATE), np.float32)
        self.noise = noise
        self.name = name
        self._rng = np.random.default_rng(0)
        self._pos = 0
        self._t0 = None
        self.delivered = 0  # samples handed out

    @classmethod
    def from_file(cls, path, **kw) -> ArraySource:
        audio = read_speech_file(path)
        return cls(audio.samples, ASR_RATE, name=str(path), **kw)

    def start_at(self, offset_s: float) -> None:
        """Deliver ``offset_s`` of silence before the recording (the user speaks later)."""
        pad = np.zeros(int(offset_s * ASR_RATE), np.float32)
        self.samples = np.concatenate([pad, self.samples[self._pos :]])
        self._pos = 0

    def open(self) -> None:
        self._t0 = time.perf_counter()

    @property
    def finished(self) -> bool:  # type: ignore[override]
        end = len(self.samples) + (self.then_silence * ASR_RATE if self.then_silence is not None else np.inf)
        return self._pos >= end

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        if self.finished:
            time.sleep(min(timeout, 0.01))
            return None
        if self.realtime:  # a device hands a block over once it has been recorded
            due = self._t0 + (self.delivered + self.block) / ASR_RATE
            wait = due - time.perf_counter()
            if wait > timeout:
                time.sleep(timeout)
                return None
            if wait > 0:
                time.sleep(wait)
        seg = self.samples[self._pos : self._pos + self.block]
        out = np.zeros(self.block, np.float32)
        out[: len(seg)] = seg
        self._pos += self.block
        self.delivered += self.block
        if self.echo_of is not None:
            played, _ = self.echo_of.read(self.block)
            self._echo = np.concatenate([self._echo, played])
            out += self.echo_gain * self._echo[: self.block]
            self._echo = self._echo[self.block :]
        if self.noise:
            out += self.noise * self._rng.standard_normal(self.block).astype(np.float32)
        return out

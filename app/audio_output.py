"""Audio output that is also the player's clock (no Qt here).

The avatar view shows the frame whose time matches what the listener hears, so
the clock is the audio actually played: ``position()`` is the number of seconds
of *real* audio (not underrun silence) that have reached the speaker since the
last ``clear()``.  Two implementations:

- ``DeviceAudioOutput``: a ``sounddevice`` (PortAudio) output stream; the clock
  comes from the stream's DAC timestamps, so it includes the output latency.
- ``SilentAudioOutput``: no sound card (or PortAudio missing): the audio is
  consumed at real-time speed against a monotonic clock, pausing while starved
  exactly as a device would, and can keep what it "played" (the test sink).

``open_audio_output()`` picks the device when one exists and otherwise returns
the silent one with a notice that says why.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np


class AudioOutput:
    """Plays mono float32 audio appended with ``write``; ``position()`` is the clock."""

    kind = "abstract"
    sample_rate: int = 48000
    notice: str = ""
    #: loudness 0..1 applied as the audio plays (so a change is heard at once)
    volume: float = 1.0

    def set_volume(self, volume: float) -> None:
        self.volume = float(min(1.0, max(0.0, volume)))

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Stop at once: drop everything not yet played; the clock restarts at 0."""
        raise NotImplementedError

    def position(self) -> float:
        """Seconds of written audio played since the last ``clear``."""
        raise NotImplementedError

    def written(self) -> float:
        """Seconds of audio written since the last ``clear``."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _convert(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 at the output rate (the player sink resamples off the UI thread already)."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if int(sample_rate) != self.sample_rate and len(x):
            from pipelines.media.audio import resample

            x = resample(x, int(sample_rate), self.sample_rate)
        return np.clip(x, -1.0, 1.0)

    #: the rate chunks should arrive at (None: any), so resampling happens off the UI thread
    @property
    def preferred_rate(self) -> int | None:
        return self.sample_rate


class SilentAudioOutput(AudioOutput):
    """A clock that consumes audio in real time without a sound card.

    The position advances with ``time.perf_counter`` but never past the audio
    written so far: when the producer falls behind, the clock waits, as a real
    device playing an underrun would.  With ``record=True`` every written block
    is kept in ``recorded`` (the test sink for "audio reached the player").
    """

    kind = "silent"
    preferred_rate = None

    def __init__(self, sample_rate: int = 48000, record: bool = False, notice: str = "") -> None:
        self.sample_rate = int(sample_rate)
        self.notice = notice
        self.record = record
        self.recorded: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._pos = 0.0
        self._written = 0.0
        self._last = time.perf_counter()

    def _advance(self, now: float) -> None:
        self._pos = min(self._pos + (now - self._last), self._written)
        self._last = now

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        x = np.asarray(samples, dtype=np.float32).reshape(-1)  # any rate: only its duration matters
        with self._lock:
            self._advance(time.perf_counter())
            self._written += len(x) / float(sample_rate)
            if self.record:  # what would be heard: at the volume of the moment
                self.recorded.append(x if self.volume == 1.0 else x * np.float32(self.volume))

    def clear(self) -> None:
        with self._lock:
            self._pos = self._written = 0.0
            self._last = time.perf_counter()

    def position(self) -> float:
        with self._lock:
            self._advance(time.perf_counter())
            return self._pos

    def written(self) -> float:
        with self._lock:
            return self._written


class DeviceAudioOutput(AudioOutput):
    """``sounddevice`` output stream fed from a block queue in its callback."""

    kind = "device"

    def __init__(self, sd, device=None, sample_rate: int | None = None, blocksize: int = 512) -> None:
        info = sd.query_devices(device, kind="output")
        self.device_name = str(info.get("name", "output"))
        self.sample_rate = int(sample_rate or info.get("default_samplerate") or 48000)
        self.notice = ""
        self._lock = threading.Lock()
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._offset = 0  # samples already taken from _blocks[0]
        self._consumed = 0  # real samples handed to the device since clear
        self._written = 0  # samples written since clear
        self._epoch = 0  # bumped by clear(): stale marks are ignored
        self._marks: collections.deque = collections.deque(maxlen=64)  # (dac_time, start, n, epoch)
        self._stream = sd.OutputStream(
            samplerate=self.sample_rate,
            channels=1,
            dtype="float32",
            device=device,
            blocksize=blocksize,
            callback=self._callback,
        )
        self._stream.start()

    def _callback(self, outdata, frames, time_info, status) -> None:  # PortAudio thread
        out = outdata[:, 0]
        n = 0
        with self._lock:
            start = self._consumed
            while n < frames and self._blocks:
                block = self._blocks[0]
                take = min(frames - n, len(block) - self._offset)
                out[n : n + take] = block[self._offset : self._offset + take]
                n += take
                self._offset += take
                if self._offset >= len(block):
                    self._blocks.popleft()
                    self._offset = 0
            self._consumed += n
            self._marks.append((float(time_info.outputBufferDacTime), start, n, self._epoch))
        if self.volume != 1.0:
            out[:n] *= self.volume
        out[n:] = 0.0

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        x = self._convert(samples, sample_rate)
        if len(x):
            with self._lock:
                self._blocks.append(x)
                self._written += len(x)

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
            self._offset = self._consumed = self._written = 0
            self._epoch += 1
            self._marks.clear()

    def position(self) -> float:
        now = float(self._stream.time)
        with self._lock:
            pos = 0
            for dac, start, n, epoch in reversed(self._marks):
                if epoch != self._epoch or dac > now:
                    continue
                pos = start + min(n, max(0, int((now - dac) * self.sample_rate)))
                break
            return pos / self.sample_rate

    def written(self) -> float:
        with self._lock:
            return self._written / self.sample_rate

    def close(self) -> None:
        try:
            self._stream.stop()
            self._stream.close()
        except Exception:
            pass


def open_audio_output(use_device: bool = True, record: bool = False) -> AudioOutput:
    """The sound card when one exists, else a silent real-time clock with ``notice`` saying why."""
    reason = "audio output disabled"
    if use_device:
        try:
            import sounddevice as sd

            return DeviceAudioOutput(sd)
        except ImportError as exc:
            reason = f"sounddevice is not installed ({exc})"
        except OSError as exc:  # PortAudio library missing
            reason = f"PortAudio is missing ({exc}); install it with 'apt-get install -y libportaudio2'"
        except Exception as exc:  # sounddevice.PortAudioError: no output device
            reason = f"no output device ({type(exc).__name__}: {exc})"
    return SilentAudioOutput(record=record, notice=f"No audio device: playing silently, in time. ({reason})")

"""The microphone through sounddevice (PortAudio), with a clear notice when there is none."""

from __future__ import annotations

import queue
from typing import Self

import numpy as np

from .audio_input import ASR_RATE


class MicUnavailable(RuntimeError):
    """No usable input device; the message is one line for the user."""


def _sounddevice():
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        raise MicUnavailable(
            f"no microphone: the sound library cannot load ({exc}); install PortAudio "
            "(sudo apt-get install libportaudio2) or use --audio FILE.wav"
        ) from None
    return sd


def input_devices() -> list[dict]:
    """Input devices as sounddevice reports them (index, name, channels, default rate)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
    except (sd.PortAudioError, OSError, ValueError) as exc:
        raise MicUnavailable(
            f"no microphone: the sound system reports no devices ({exc}); use --audio FILE.wav"
        ) from None
    return [dict(d, index=i) for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]


def pick_device(name: str = "") -> dict:
    devs = input_devices()
    if not devs:
        raise MicUnavailable(
            "no microphone: this machine has no audio input device; plug one in, "
            "or use --audio FILE.wav to speak to the persona from a recording"
        )
    if name:
        for d in devs:
            if name.lower() in d["name"].lower() or name == str(d["index"]):
                return d
        raise MicUnavailable(f"no input device matches {name!r} (have: {', '.join(d['name'] for d in devs)})")
    return devs[0]


class Microphone:
    """16 kHz mono float32 blocks from the default (or named) input device."""

    def __init__(self, device: str = "", block: int = 512) -> None:
        self.device = pick_device(device)
        self.block = block
        self.queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=256)
        self.stream = None

    def _callback(self, data, frames, t, status) -> None:
        try:
            self.queue.put_nowait(data[:, 0].astype(np.float32).copy())
        except queue.Full:
            pass  # the consumer fell behind: drop a block rather than block the audio thread

    def __enter__(self) -> Self:
        sd = _sounddevice()
        try:
            self.stream = sd.InputStream(
                device=self.device["index"],
                channels=1,
                samplerate=ASR_RATE,
                blocksize=self.block,
                dtype="float32",
                callback=self._callback,
            )
            self.stream.start()
        except (sd.PortAudioError, OSError, ValueError) as exc:
            raise MicUnavailable(f"could not open the microphone {self.device['name']!r}: {exc}") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()

    def read(self, timeout: float = 1.0) -> np.ndarray | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

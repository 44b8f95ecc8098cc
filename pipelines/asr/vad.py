"""Voice activity detection with Silero VAD (the ONNX model shipped in the ``silero-vad`` wheel).

``SileroVAD`` scores 32 ms frames (512 samples at 16 kHz) with the model's
recurrent state carried across calls, through onnxruntime (no torch).
``UtteranceCutter`` turns a stream of audio blocks into utterances: speech
starts when a frame's probability passes ``threshold``, and an utterance ends
after ``end_pause_s`` of frames below ``threshold - 0.15`` (hysteresis, as
Silero's own ``get_speech_timestamps``).  Utterances shorter than
``min_speech_s`` (a click, a cough) are dropped; ``pre_roll_s`` of audio before
the onset is kept so the first phoneme is not cut, and ``tail_s`` of the end
pause (the rest of it is silence the recogniser need not decode).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..optional import require

RATE = 16000
FRAME = 512  # samples per VAD frame at 16 kHz (32 ms), fixed by the model
CONTEXT = 64  # samples of the previous frame the model sees in front of each frame


def silero_model_path() -> Path:
    require("silero_vad", "silero-vad", "voice activity detection")
    from importlib.resources import files

    path = Path(str(files("silero_vad.data").joinpath("silero_vad.onnx")))
    if not path.is_file():
        raise FileNotFoundError(
            f"Silero VAD model missing at {path}: reinstall silero-vad "
            "(.venv/bin/pip install --no-deps --force-reinstall silero-vad==6.2.3)"
        )
    return path


class SileroVAD:
    """Speech probability per 512-sample frame of 16 kHz audio."""

    def __init__(self, model_path: str | Path | None = None) -> None:
        ort = require("onnxruntime", purpose="voice activity detection")
        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(model_path or silero_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT), dtype=np.float32)

    def frame_probability(self, frame: np.ndarray) -> float:
        x = np.asarray(frame, dtype=np.float32).reshape(1, FRAME)
        inp = np.concatenate([self._context, x], axis=1)
        out, self._state = self.session.run(
            None, {"input": inp, "state": self._state, "sr": np.array(RATE, dtype=np.int64)}
        )
        self._context = inp[:, -CONTEXT:]
        return float(out.reshape(-1)[0])

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """One probability per whole frame of ``samples`` (state carried on)."""
        n = len(samples) // FRAME
        return np.array(
            [self.frame_probability(samples[i * FRAME : (i + 1) * FRAME]) for i in range(n)], dtype=np.float32
        )


@dataclass
class Utterance:
    samples: np.ndarray  # float32 mono 16 kHz, pre-roll included
    start_s: float  # stream time of the speech onset
    end_s: float  # stream time of the last speech frame (end of speech)
    cut_s: float = 0.0  # stream time when the cutter decided the utterance ended

    @property
    def duration(self) -> float:
        return len(self.samples) / float(RATE)


class UtteranceCutter:
    """Feed 16 kHz mono blocks of any size; get whole utterances back."""

    def __init__(
        self,
        vad: SileroVAD | None = None,
        *,
        end_pause_s: float = 0.6,
        threshold: float = 0.5,
        min_speech_s: float = 0.25,
        pre_roll_s: float = 0.2,
        tail_s: float = 0.25,
        max_utterance_s: float = 30.0,
    ) -> None:
        self.vad = vad or SileroVAD()
        self.end_pause_frames = max(1, round(end_pause_s * RATE / FRAME))
        self.threshold = threshold
        self.off_threshold = max(0.01, threshold - 0.15)
        self.min_speech_frames = max(1, round(min_speech_s * RATE / FRAME))
        self.pre_roll_frames = round(pre_roll_s * RATE / FRAME)
        self.max_frames = round(max_utterance_s * RATE / FRAME)
        self.tail_frames = round(tail_s * RATE / FRAME)
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self._frames_seen = 0
        self._history: list[np.ndarray] = []  # recent silent frames (pre-roll)
        self._speech: list[np.ndarray] | None = None
        self._speech_frames = 0
        self._silence_run = 0
        self._onset = 0
        self.last_probability = 0.0

    @property
    def in_speech(self) -> bool:
        return self._speech is not None

    def partial(self) -> np.ndarray | None:
        """The audio of the utterance in progress (None outside speech)."""
        return None if self._speech is None else np.concatenate(self._speech)

    def feed(self, block: np.ndarray) -> Iterator[Utterance]:
        self._pending = np.concatenate([self._pending, np.asarray(block, dtype=np.float32).reshape(-1)])
        n = len(self._pending) // FRAME
        frames, self._pending = self._pending[: n * FRAME], self._pending[n * FRAME :]
        for i in range(n):
            out = self._step(frames[i * FRAME : (i + 1) * FRAME])
            if out is not None:
                yield out

    def flush(self) -> Iterator[Utterance]:
        """End of stream: the utterance in progress, if long enough."""
        if self._speech is not None:
            out = self._close()
            if out is not None:
                yield out

    def _step(self, frame: np.ndarray) -> Utterance | None:
        p = self.last_probability = self.vad.frame_probability(frame)
        idx = self._frames_seen
        self._frames_seen += 1
        if self._speech is None:
            if p >= self.threshold:
                self._speech = self._history[-self.pre_roll_frames :] if self.pre_roll_frames else []
                self._speech = list(self._speech) + [frame]
                self._onset, self._speech_frames, self._silence_run = idx, 1, 0
            else:
                self._history.append(frame)
                del self._history[: -max(1, self.pre_roll_frames)]
            return None
        self._speech.append(frame)
        if p >= self.off_threshold:
            self._speech_frames += 1
            self._silence_run = 0
        else:
            self._silence_run += 1
        if self._silence_run >= self.end_pause_frames or len(self._speech) >= self.max_frames:
            return self._close()
        return None

    def _close(self) -> Utterance | None:
        speech, trail = self._speech, self._silence_run
        self._speech, self._history = None, []
        if self._speech_frames < self.min_speech_frames:
            return None
        keep = len(speech) - max(0, trail - self.tail_frames)  # the end pause is not speech: keep a short tail
        audio = np.concatenate(speech[:keep])
        end_frame = self._frames_seen - trail
        return Utterance(audio, self._onset * FRAME / RATE, end_frame * FRAME / RATE, self._frames_seen * FRAME / RATE)


def speech_segments(samples: np.ndarray, **kw) -> list[Utterance]:
    """Every utterance in a whole 16 kHz recording."""
    cutter = UtteranceCutter(**kw)
    return list(cutter.feed(samples)) + list(cutter.flush())

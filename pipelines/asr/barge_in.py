"""Barge-in: the user starting to speak while the avatar talks interrupts the turn.

No acoustic echo canceller installs here from a maintained package (the
speexdsp bindings need a system libspeexdsp or a compiler; webrtc-audio-
processing has no wheel for this Python), so the avatar's own voice coming
back through the microphone is told apart from the user by level:

* the played signal (what the speaker is playing, 16 kHz) gives, per 32 ms
  frame, the loudest played frame RMS of the last ``max_delay_s`` (the echo
  path delays it by up to that);
* the coupling from speaker to microphone (echo gain) is estimated during
  playback as a high percentile of mic RMS / played RMS (echo is most of the
  playback time; before enough frames it is assumed ``initial_echo_gain``,
  0 dB: conservative);
* a microphone frame counts as the user's speech when Silero VAD says speech
  AND its RMS is ``margin_db`` above the expected echo level;
  ``min_speech_s`` of such frames (short gaps allowed) trigger the barge-in.

``headphones`` turns the echo check off: then any speech during playback barges in.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from ..messages import AudioChunk, VideoChunk
from ..worker import Cancel
from .audio_input import ASR_RATE, to_mono_16k
from .vad import FRAME, SileroVAD


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


class BargeInDetector:
    def __init__(
        self,
        *,
        headphones: bool = False,
        vad: SileroVAD | None = None,
        threshold: float = 0.5,
        margin_db: float = 6.0,
        min_speech_s: float = 0.2,
        max_delay_s: float = 0.25,
        initial_echo_gain: float = 1.0,
        min_played_rms: float = 1e-3,
    ) -> None:
        self.headphones = headphones
        self.vad = vad or SileroVAD()
        self.threshold = threshold
        self.margin = 10.0 ** (margin_db / 20.0)
        self.need = max(1, round(min_speech_s * ASR_RATE / FRAME))
        self.window = deque(maxlen=max(1, round(max_delay_s * ASR_RATE / FRAME)))
        self.ratios: deque[float] = deque(maxlen=round(4.0 * ASR_RATE / FRAME))  # last 4 s of playback
        self.initial_gain = initial_echo_gain
        self.min_played = min_played_rms
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self.window.clear()
        self._run = 0
        self._gap = 0
        self._mic = np.zeros(0, np.float32)
        self._ref = np.zeros(0, np.float32)
        self.last = {}

    @property
    def echo_gain(self) -> float:
        if len(self.ratios) < 16:
            return self.initial_gain
        return float(np.percentile(np.fromiter(self.ratios, float), 80))

    def feed(self, mic: np.ndarray, played: np.ndarray, playing: bool = True) -> bool:
        """16 kHz mic and played blocks covering the same time; True once the user barges in."""
        self._mic = np.concatenate([self._mic, np.asarray(mic, np.float32).reshape(-1)])
        self._ref = np.concatenate([self._ref, np.asarray(played, np.float32).reshape(-1)])
        hit = False
        while len(self._mic) >= FRAME:
            m, self._mic = self._mic[:FRAME], self._mic[FRAME:]
            r, self._ref = self._ref[:FRAME], self._ref[FRAME:]
            hit |= self._frame(m, r, playing)
        self._ref = self._ref[-len(self._mic) :] if len(self._mic) else self._ref[:0]
        return hit

    def _frame(self, mic: np.ndarray, played: np.ndarray, playing: bool) -> bool:
        prob = self.vad.frame_probability(mic)
        self.window.append(rms(np.pad(played, (0, FRAME - len(played)))))
        ref = max(self.window)
        mic_rms = rms(mic)
        speech = prob >= self.threshold
        if not self.headphones and ref >= self.min_played:
            expected = self.echo_gain * ref
            user = speech and mic_rms > self.margin * expected
            self.ratios.append(mic_rms / ref)
        else:
            expected, user = 0.0, speech
        self.last = {"prob": prob, "mic_rms": mic_rms, "expected_echo_rms": expected, "user": user}
        if not playing:
            self._run = self._gap = 0
            return False
        if user:
            self._run += 1
            self._gap = 0
        elif self._run:
            self._gap += 1
            if self._gap > 2:
                self._run = self._gap = 0
        return self._run >= self.need


class PlayedAudio:
    """What the speaker plays, as a 16 kHz reference: audio of each turn, in order, read in blocks.

    ``attach(engine)`` fills it from the face stage's output (the video chunks
    whose audio the sink plays) and empties a turn the moment it is cancelled,
    so nothing stale plays after an interrupt; a player that knows better what
    it plays (the app's) calls ``push`` / ``read`` itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[int, np.ndarray]] = deque()
        self._dropped: set[int] = set()
        self.log: list[tuple[int | None, int]] = []  # (turn id, samples) of every block read

    def attach(self, engine, stage: str = "face") -> PlayedAudio:
        def listen(name, msg):
            if isinstance(msg, Cancel):
                self.drop(msg.turn_id)
            elif name == stage and isinstance(msg, (AudioChunk, VideoChunk)):
                audio = msg.samples if isinstance(msg, AudioChunk) else msg.audio
                if not engine.gate.is_cancelled(msg.turn_id):
                    self.push(msg.turn_id, audio, msg.sample_rate)

        engine.subscribe(listen)
        return self

    def push(self, turn_id: int, samples: np.ndarray, sample_rate: int) -> None:
        x = to_mono_16k(samples, sample_rate)[0]
        with self._lock:
            if turn_id not in self._dropped:
                self._queue.append((turn_id, x))

    def drop(self, turn_id: int) -> None:
        with self._lock:
            self._dropped.add(turn_id)
            self._queue = deque(item for item in self._queue if item[0] != turn_id)

    @property
    def playing_turn(self) -> int | None:
        with self._lock:
            return self._queue[0][0] if self._queue else None

    def read(self, n: int) -> tuple[np.ndarray, int | None]:
        """The next ``n`` samples played (zeros when idle) and the turn they belong to."""
        out = np.zeros(n, np.float32)
        turn = None
        with self._lock:
            filled = 0
            while filled < n and self._queue:
                tid, x = self._queue[0]
                if turn is not None and tid != turn:
                    break
                turn = tid
                k = min(n - filled, len(x))
                out[filled : filled + k] = x[:k]
                filled += k
                if k == len(x):
                    self._queue.popleft()
                else:
                    self._queue[0] = (tid, x[k:])
        self.log.append((turn, n))
        return out, turn


class BargeIn:
    """Hands-free mode: microphone blocks in; interrupts the engine's turn when the user talks over it."""

    def __init__(
        self, engine, played: PlayedAudio, *, headphones: bool | None = None, detector: BargeInDetector | None = None
    ) -> None:
        self.engine = engine
        self.played = played
        hp = engine.settings.asr.headphones if headphones is None else headphones
        self.detector = detector or BargeInDetector(headphones=hp)
        self.interrupted: list[int] = []

    def feed(self, mic: np.ndarray, played_block: np.ndarray, played_turn: int | None) -> int | None:
        """One block of the microphone and of what played meanwhile; the interrupted turn id, if any.

        The avatar is talking while a turn's audio plays or while the engine still
        works on its turn (a pause between sentences).  A barge-in cancels the turn
        in the engine if it is still being generated, and drops its queued audio
        from the player either way (a finished turn may still be playing)."""
        target = played_turn if played_turn is not None else self.engine.active_turn  # between sentences
        if target in self.interrupted:
            target = None  # already cut off: what still trickles in of it is not the avatar talking
        if not self.detector.feed(mic, played_block, target is not None):
            return None
        if self.engine.active_turn == target:
            self.engine.interrupt()
        self.played.drop(target)
        self.interrupted.append(target)
        self.detector.reset()
        return target

"""``face`` backend ``wav2lip``: lip-synced frames for each sentence's audio, streamed in batches.

For an ``AudioChunk`` of ``d`` seconds at ``fps``:

1. audio is the clock: ``N = round(d * fps)`` frames, and the audio is padded
   or trimmed to exactly ``N / fps`` seconds (at its own sample rate);
2. the audio is resampled to 16 kHz and turned into Wav2Lip's mel spectrogram
   (``mel.py``); frame ``i`` gets the 16 mel columns from ``int(i * 80 / fps)``;
3. frames whose audio is silent (RMS below ``face.wav2lip.silence_db``, in stretches of
   3+ frames) keep the original avatar frame: no inference, no mumbling;
4. the others go through the generator in batches of ``face.wav2lip.batch_size`` and
   are pasted back with a feathered lower-face mask, colour matched
   (``composite.py``);
5. every batch is yielded as a ``VideoChunk`` with its share of the audio.

Avatar frames are taken in ping-pong order and continue across the sentences
of a turn.  The model or ONNX session is built once in ``load()``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from pipelines.face.base import FaceStage
from pipelines.face.wav2lip import mel as melmod
from pipelines.face.wav2lip.compositor import Compositor
from pipelines.face.wav2lip.inference import Wav2LipInference, faces_to_input, output_to_rgb
from pipelines.media.audio import fit_to_frames, frame_count
from pipelines.messages import AudioChunk, Message, VideoChunk
from pipelines.settings import Wav2LipSettings
from pipelines.stage import TurnContext
from pipelines.stage_env import StageEnv


@dataclass
class _TurnState:
    next_frame: int = 0  # position in the ping-pong sequence of avatar frames
    frames: int = 0
    silent: int = 0


@dataclass
class RenderStats:
    """Seconds spent per step and frame counts (cumulative; ``reset_stats`` clears)."""

    frames: int = 0
    silent_frames: int = 0
    mel_s: float = 0.0
    infer_s: float = 0.0
    paste_s: float = 0.0
    batches: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.mel_s + self.infer_s + self.paste_s


def blend_weights(silent: np.ndarray, frames: int) -> np.ndarray:
    """Generated-face share per frame: 1 while speaking, fading to 0 over ``frames`` frames
    into each pause (and back before speech resumes), 0 deep in a pause."""
    talk = (~np.asarray(silent, bool)).astype(np.float32)
    w = talk.copy()
    for k in range(1, max(0, int(frames)) + 1):
        g = 1.0 - k / (frames + 1.0)
        w[k:] = np.maximum(w[k:], talk[:-k] * g)
        w[:-k] = np.maximum(w[:-k], talk[k:] * g)
    return w


class Wav2LipRenderer(FaceStage):
    name = "face"

    settings_section = "face.wav2lip"

    def __init__(
        self,
        cfg: Wav2LipSettings,
        persona,
        env: StageEnv | None = None,
        avatar=None,
        inference: Wav2LipInference | None = None,
    ) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.avatar = avatar
        self.model = inference
        self.fps = self.env.fps
        self.batch_size = int(cfg.batch_size)
        #: frames in a turn's first batch (then doubling): the first frame waits for a small batch only
        self.first_batch = int(cfg.first_batch)
        self.blend_frames = int(cfg.blend_frames)
        self.silence_db = float(cfg.silence_db)
        self.compositor = Compositor(colour_match=cfg.colour_match)
        self.stats = RenderStats()
        self._turns: dict[int, _TurnState] = {}

    # -- loading -----------------------------------------------------------------
    def load(self) -> None:
        if self.model is None:
            ckpt = self.cfg.checkpoint
            if not ckpt:
                raise ValueError(
                    "face.backend is 'wav2lip' but face.wav2lip.checkpoint is empty: put the official Wav2Lip "
                    "generator (wav2lip_gan.pth or wav2lip.pth) in module/wav2lip/ and set face.wav2lip.checkpoint "
                    "(e.g. module/wav2lip/wav2lip_gan.pth), or an .onnx made by 'python -m pipelines export-onnx'; "
                    "or use face.backend 'warp', which needs no weights"
                )
            if self.avatar is None:
                from pipelines.face.avatar.loading import load_avatar

                self.avatar = load_avatar(self.persona, self.env)
            path, runtime = self.env.resolve(ckpt), self.cfg.runtime
            device = self.env.device
            if (
                runtime in ("auto", "openvino")
                and device == "cpu"
                and path.suffix.lower() in (".pth", ".pt", ".tar")
                and path.is_file()
            ):
                # PyTorch fp32 cannot keep up with 25 fps on a CPU: use (and on first use make) the
                # cached ONNX export of this checkpoint: int8 (the fastest here), or fp32 for OpenVINO
                from pipelines.face.wav2lip.export.cache import fp32_for_checkpoint, int8_for_checkpoint

                if runtime == "openvino":
                    path, runtime = fp32_for_checkpoint(path), "openvino"
                else:
                    path, runtime = int8_for_checkpoint(path, np.asarray(self.avatar.crops), self.persona), "onnx"
            self.model = Wav2LipInference(path, runtime=runtime, device=device, threads=int(self.env.threads))
        self.model.load()
        if self.avatar is None:
            from pipelines.face.avatar.loading import load_avatar

            self.avatar = load_avatar(self.persona, self.env)
        crops = np.asarray(self.avatar.crops)
        if crops.ndim != 4 or crops.shape[1:] != (96, 96, 3) or len(crops) != len(self.avatar.frames):
            raise ValueError(
                f"avatar {getattr(self.avatar, 'source', '')}: crops must be (N, 96, 96, 3) for its "
                f"{len(self.avatar.frames)} frames, got {crops.shape}; enroll the face again"
            )
        self.backend = f"wav2lip/{self.model.describe()}"
        self.warm_up()

    def warm_up(self) -> None:
        """Calls at load time, so the first turn does not pay for the runtime's first-run
        allocations and kernel choices (``Wav2LipInference.warm_up``)."""
        self.model.warm_up(max(1, min(self.first_batch, self.batch_size)), self.batch_size)

    # -- helpers -------------------------------------------------------------------
    def _avatar_index(self, i: int) -> int:
        """Avatar frame under output frame ``i`` of a turn: by time, at the avatar's own fps."""
        from pipelines.face.avatar.storage import avatar_index_at

        return avatar_index_at(self.avatar, i / self.fps)

    def analyse(self, samples: np.ndarray, sample_rate: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(N frames, audio fitted to N/fps s, (N,80,16) mel windows, (N,) silent mask)."""
        n = frame_count(len(samples) / float(sample_rate), self.fps)
        audio = fit_to_frames(samples, sample_rate, n, self.fps)
        if n == 0:
            return 0, audio, self.audio_windows(np.zeros(0, np.float32), 0), np.zeros(0, bool)
        windows = self.audio_windows(melmod.resample(audio, sample_rate, melmod.SAMPLE_RATE), n)
        silent = melmod.silent_frames(melmod.frame_rms_db(audio, sample_rate, n, self.fps), self.silence_db)
        return n, audio, windows, silent

    def audio_windows(self, wav16: np.ndarray, n: int) -> np.ndarray:
        """The model's audio input for ``n`` frames of 16 kHz audio: ``(n, 80, 16)`` mel windows here."""
        if n == 0:
            return np.zeros((0, 80, 16), np.float32)
        return melmod.mel_windows(melmod.melspectrogram(wav16), n, self.fps)

    def batches(self, n: int, first_of_turn: bool = True) -> list[tuple[int, int]]:
        """(start, end) frame ranges: a turn starts with a small batch (the first frame shows
        sooner), the sizes double up to ``face.wav2lip.batch_size`` (fewer, larger calls after)."""
        bs = max(1, self.batch_size)
        size = min(bs, max(1, self.first_batch)) if first_of_turn else bs
        out, start = [], 0
        while start < n:
            end = min(n, start + size)
            out.append((start, end))
            start = end
            size = min(bs, size * 2)
        return out

    def generate(self, ids: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Generated faces (k, s, s, 3) uint8 RGB for avatar frames ``ids`` and their mel ``windows``
        (another model, e.g. the ``personal`` backend, overrides this and keeps the rest)."""
        crops = np.asarray(self.avatar.crops[ids])
        return output_to_rgb(self.model(windows[:, None], faces_to_input(crops)))

    def render_frames(
        self, ids: np.ndarray, windows: np.ndarray, silent: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """Frames for avatar frames ``ids`` with mel ``windows``; silent ones are the originals.

        ``weights`` (0..1 per frame, optional): the generated face's share; frames between
        0 and 1 cross-fade generated and original (pauses fade in and out, no pop).
        """
        av = self.avatar
        frames = np.empty((len(ids),) + tuple(av.frames.shape[1:]), np.uint8)
        talk = np.flatnonzero(~silent)
        for k in np.flatnonzero(silent):
            frames[k] = av.frames[ids[k]]
        if len(talk) == 0:
            return frames
        t0 = time.perf_counter()
        faces = self.generate(ids[talk], windows[talk])
        t1 = time.perf_counter()
        for j, k in enumerate(talk):
            a = int(ids[k])
            frames[k] = self.compositor.paste(
                np.asarray(av.frames[a]), av.boxes[a], faces[j], key=a, landmarks=av.landmarks[a]
            )
            w = 1.0 if weights is None else float(weights[k])
            if w < 1.0:
                orig = np.asarray(av.frames[a], np.float32)
                frames[k] = (orig + w * (frames[k].astype(np.float32) - orig) + 0.5).astype(np.uint8)
        t2 = time.perf_counter()
        self.stats.infer_s += t1 - t0
        self.stats.paste_s += t2 - t1
        self.stats.batches += 1
        return frames

    # -- stage ---------------------------------------------------------------------
    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, AudioChunk):
            raise TypeError(f"face expects AudioChunk messages, got {type(msg).__name__}")
        if self.model is None or self.avatar is None:
            self.load()
        st = self._turns.setdefault(msg.turn_id, _TurnState())
        sr = int(msg.sample_rate)
        t0 = time.perf_counter()
        n, audio, windows, silent = self.analyse(msg.samples, sr)
        self.stats.mel_s += time.perf_counter() - t0
        weights = blend_weights(silent, self.blend_frames)
        silent = weights <= 0
        for start, end in self.batches(n, first_of_turn=st.frames == 0):
            if ctx.cancelled:
                return
            ids = np.array([self._avatar_index(st.next_frame + i) for i in range(start, end)], np.int64)
            frames = self.render_frames(ids, windows[start:end], silent[start:end], weights[start:end])
            a0 = int(round(start * sr / self.fps))
            a1 = int(round(end * sr / self.fps))
            n_silent = int(silent[start:end].sum())
            self.stats.frames += end - start
            self.stats.silent_frames += n_silent
            st.frames += end - start
            st.silent += n_silent
            yield VideoChunk(
                msg.turn_id,
                frames=frames,
                fps=self.fps,
                audio=audio[a0:a1],
                sample_rate=sr,
                text=msg.text,
            )
        st.next_frame += n

    def end_turn(self, ctx: TurnContext):
        st = self._turns.pop(ctx.turn_id, None)
        if st is not None and st.frames:
            ctx.info["face_frames"] = st.frames
            ctx.info["face_silent_frames"] = st.silent
        return ()

    def cancel_turn(self, turn_id: int) -> None:
        self._turns.pop(turn_id, None)

    def reset(self) -> None:
        self._turns.clear()

    def close(self) -> None:
        if self.model is not None:
            self.model.close()
        self.model = None
        self.compositor.clear()

    def reset_stats(self) -> None:
        self.stats = RenderStats()

"""Face backend ``warp`` (the embedded default): animate the enrolled face's mouth from the audio.

For every sentence (``AudioChunk``) the renderer emits one ``VideoChunk`` of
``N = round(duration * fps)`` frames (at least one), with the audio padded or
trimmed to exactly ``N / fps`` seconds, so the audio is the clock and chunks
concatenate without drift.  Frame ``i`` of a turn shows avatar frame
``avatar.index_at(i / fps)`` (by time at the avatar's own fps, ping-pong over an enrolled video), with the mouth opened by
the loudness envelope (``mouth_envelope``) through a displacement warp of lips
and jaw (``mouth_warp``); on silence the mouth stays closed and the frame is the
idle frame.  A still portrait also gets a tiny head sway and blinks
(``warp_idle``).  The frame counter, the loudness peak and the smoother carry
over between the sentences of a turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from pipelines.face.avatar import landmarks as L
from pipelines.face.avatar.storage import avatar_index_at
from pipelines.face.base import FaceStage
from pipelines.face.warp.envelope import EnvelopeState, frame_levels, mouth_openings
from pipelines.face.warp.idle import (
    BlinkSchedule,
    EyeRig,
    blink,
    build_eye_rigs,
    sway_matrix,
)
from pipelines.face.warp.mouth import MouthRig, build_rig, open_mouth
from pipelines.face.warp.visemes import viseme_track
from pipelines.media.audio import as_mono_float32, fit_to_frames
from pipelines.messages import AudioChunk, Message, VideoChunk
from pipelines.stage import TurnContext
from pipelines.stage_env import StageEnv


@dataclass
class _Turn:
    frame: int = 0  # frames already rendered in this turn
    env: EnvelopeState = field(default_factory=EnvelopeState)
    width: float = 1.0  # last frame's lip width (visemes carry over between sentences)


#: frames per streamed VideoChunk (0.4 s at 25 fps)
CHUNK_FRAMES = 10
#: a turn's first chunk is shorter, so its first frames reach the player sooner
FIRST_CHUNK_FRAMES = 3


class WarpRenderer(FaceStage):
    """``face`` backend ``warp``: mouth warp + inner-mouth shading + idle motion, on one CPU core."""

    name = "face"

    #: warp has no settings of its own: it reads the face stage's shared ones (``env.face``)
    def __init__(self, cfg: None, persona, env: StageEnv | None = None, avatar=None) -> None:
        super().__init__(cfg, persona, env)
        self.fps = self.env.fps
        self.avatar = avatar
        self._turns: dict[int, _Turn] = {}
        self._rigs: dict[int, MouthRig] = {}
        self._eyes: dict[int, list[EyeRig]] = {}
        self.idle_motion = True
        #: mouth opening (0..1) per frame of the last chunk rendered, for tests and the GUI
        self.last_openings = np.zeros(0, np.float32)
        self.last_widths = np.zeros(0, np.float32)

    # -- set-up ----------------------------------------------------------------------
    def load(self) -> None:
        if self.avatar is None:
            from pipelines.face.avatar.loading import load_avatar

            self.avatar = load_avatar(self.persona, self.env)
        av = self.avatar
        self.still = len(av) == 1
        self._blinks = BlinkSchedule(self.fps)
        h, w = av.frames.shape[1:3]
        self._scale = max(h, w) / 512.0
        pts = av.landmarks[0]
        chin, top = pts[L.CHIN], pts[10]
        self._pivot = (float(chin[0]), float(chin[1] + 0.35 * (chin[1] - top[1])))
        self.backend = f"warp ({'portrait' if self.still else f'{len(av)}-frame video'})"

    def _rig(self, j: int) -> MouthRig:
        rig = self._rigs.get(j)
        if rig is None:
            rig = self._rigs[j] = build_rig(self.avatar.frames[j], self.avatar.landmarks[j])
        return rig

    def _eye_rigs(self, j: int) -> list[EyeRig]:
        rigs = self._eyes.get(j)
        if rigs is None:
            rigs = self._eyes[j] = build_eye_rigs(self.avatar.frames[j], self.avatar.landmarks[j])
        return rigs

    # -- frames ------------------------------------------------------------------------
    def avatar_index(self, frame_no: int) -> int:
        """Avatar frame under output frame ``frame_no``: taken by time, at the avatar's own fps."""
        return avatar_index_at(self.avatar, frame_no / self.fps)

    def render_frame(
        self, frame_no: int, opening: float, out: np.ndarray | None = None, width: float = 1.0
    ) -> np.ndarray:
        """Frame ``frame_no`` of a turn with the mouth opened by ``opening`` (0: the idle frame)
        and the lips at ``width`` times their rest width (visemes: rounded < 1 < spread)."""
        import cv2

        if self.avatar is None:
            raise RuntimeError("WarpRenderer.load() has not been called")
        j = self.avatar_index(frame_no)
        base = self.avatar.frames[j]
        moving = self.still and self.idle_motion
        blink_amt = self._blinks.amount(frame_no) if moving else 0.0
        shaped = opening > 0 or abs(width - 1.0) > 1e-3
        if shaped or blink_amt > 0:
            work = np.array(base, copy=True)
            if shaped:
                open_mouth(base, work, self._rig(j), opening, width)
            if blink_amt > 0:
                blink(base, work, self._eye_rigs(j), blink_amt)
        else:
            work = base
        h, w = base.shape[:2]
        if out is None:
            out = np.empty((h, w, 3), np.uint8)
        if moving:
            m = sway_matrix(frame_no, self.fps, self._pivot, self._scale)
            cv2.warpAffine(
                np.ascontiguousarray(work),
                m,
                (w, h),
                dst=out,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT_101,
            )
        else:
            np.copyto(out, work)
        return out

    def openings(
        self, samples: np.ndarray, sample_rate: int, n_frames: int | None = None, state: EnvelopeState | None = None
    ) -> np.ndarray:
        """Mouth opening per frame for ``samples`` (a fresh envelope state unless given)."""
        if n_frames is None:
            n_frames = max(1, int(round(len(samples) / sample_rate * self.fps)))
        return mouth_openings(samples, sample_rate, self.fps, n_frames, state)

    # -- the stage contract -----------------------------------------------------------------
    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, AudioChunk):
            raise TypeError(f"face expects AudioChunk messages, got {type(msg).__name__}")
        if self.avatar is None:
            self.load()
        sr = int(msg.sample_rate)
        if sr <= 0:
            raise ValueError(f"audio chunk has sample rate {sr}")
        x = as_mono_float32(msg.samples)
        turn = self._turns.setdefault(msg.turn_id, _Turn())
        n = max(1, int(round(len(x) / sr * self.fps)))
        audio = fit_to_frames(x, sr, n, self.fps)
        phonemes = tuple(getattr(msg, "phonemes", ()) or ())
        if phonemes:  # visemes from the synthesiser's phoneme timings; loudness only scales them
            opens, widths = viseme_track(
                phonemes,
                self.fps,
                n,
                frame_levels(audio, sr, self.fps, n),
                start_opening=turn.env.last,
                start_width=turn.width,
            )
            turn.env.last, turn.width = float(opens[-1]), float(widths[-1])
        else:
            opens = mouth_openings(audio, sr, self.fps, n, turn.env)
            widths = np.ones(n, np.float32)
        self.last_openings, self.last_widths = opens, widths
        h, w = self.avatar.frames.shape[1:3]
        # stream in short chunks (audio is the clock): the first frames of a sentence
        # reach the player while the rest of it is still being rendered
        first = turn.frame == 0
        bounds = [0] + ([FIRST_CHUNK_FRAMES] if first and n > FIRST_CHUNK_FRAMES else [])
        bounds += list(range(bounds[-1] + CHUNK_FRAMES, n, CHUNK_FRAMES)) + [n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            frames = np.empty((b - a, h, w, 3), np.uint8)
            for i in range(a, b):
                if ctx.cancelled:
                    return
                self.render_frame(turn.frame + i, float(opens[i]), out=frames[i - a], width=float(widths[i]))
            lo, hi = int(round(a * sr / self.fps)), int(round(b * sr / self.fps))
            yield VideoChunk(
                msg.turn_id,
                frames=frames,
                fps=self.fps,
                audio=audio[lo:hi],
                sample_rate=sr,
                text=msg.text if a == 0 else "",
            )
        turn.frame += n

    def end_turn(self, ctx: TurnContext):
        t = self._turns.pop(ctx.turn_id, None)
        if t is not None:
            ctx.info["face_frames"] = t.frame
        return ()

    def cancel_turn(self, turn_id: int) -> None:
        self._turns.pop(turn_id, None)

    def reset(self) -> None:
        self._turns.clear()

    def close(self) -> None:
        self._rigs.clear()
        self._eyes.clear()

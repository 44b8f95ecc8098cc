"""One clock for the face: avatar frames are taken by time at the avatar's own fps, whatever face.fps is."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.face.avatar.storage import Avatar
from pipelines.messages import AudioChunk
from pipelines.stage import TurnContext

SR = 16000
N_AVATAR = 40  # 1.6 s of enrolled video at 25 fps


def _marked_avatar(portrait_avatar) -> Avatar:
    """The portrait as a 40-frame, 25 fps 'video' whose frame k carries k in a corner block."""
    base = np.asarray(portrait_avatar.frames[0])
    frames = np.repeat(base[None], N_AVATAR, 0)
    for k in range(N_AVATAR):
        frames[k, :8, :8] = 5 * k + 10
    rep = lambda a: np.repeat(np.asarray(a[:1]), N_AVATAR, 0)  # noqa: E731
    return Avatar(
        frames=frames,
        boxes=rep(portrait_avatar.boxes),
        landmarks=rep(portrait_avatar.landmarks),
        crops=rep(portrait_avatar.crops),
        fps=25.0,
        source="marked portrait",
    )


def _speechlike(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 150 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _expected(t: np.ndarray) -> np.ndarray:
    i = np.floor(t * 25 + 1e-6).astype(int)
    j = i % (2 * N_AVATAR - 2)
    return np.where(j < N_AVATAR, j, 2 * N_AVATAR - 2 - j)


def test_avatar_frame_at_uses_its_own_fps(portrait_avatar):
    av = _marked_avatar(portrait_avatar)
    assert av.index_at(0.0) == 0 and av.index_at(0.04) == 1 and av.index_at(0.999) == 24
    assert av.index_at(1.56) == 39 and av.index_at(1.60) == 38  # ping-pong at the end
    assert np.array_equal(av.frame_at(0.5), av.frames[12])


@pytest.mark.parametrize("fps", [20, 25, 30, 50])
def test_warp_motion_speed_and_av_duration_do_not_depend_on_face_fps(portrait_avatar, fps):
    from pipelines.face.warp.renderer import WarpRenderer
    from pipelines.persona import Persona
    from pipelines.settings import Settings
    from tests.face_warp.conftest import REPO

    s = Settings().replace("face.fps", fps)
    r = WarpRenderer.from_settings(s, Persona.load(REPO / "source" / "default"), avatar=_marked_avatar(portrait_avatar))
    r.load()
    x = _speechlike(2.3)
    chunks = list(r.process(AudioChunk(1, x, SR, "hi"), TurnContext(1)))
    # a second sentence of the same turn continues the clock
    chunks += list(r.process(AudioChunk(1, x[: SR // 2], SR, "again"), TurnContext(1)))
    frames = np.concatenate([c.frames for c in chunks])
    audio_len = sum(len(c.audio) for c in chunks)
    assert all(c.fps == fps for c in chunks)
    # A/V: each sentence is round(d * fps) frames and its audio lasts exactly those frames
    n1, n2 = round(2.3 * fps), round(0.5 * fps)
    assert len(frames) == n1 + n2
    assert audio_len == round(n1 * SR / fps) + round(n2 * SR / fps)
    assert abs(audio_len / SR - len(frames) / fps) < 1.5 / SR * 2
    # motion speed: the avatar frame under output frame i is the one enrolled at t = i / fps
    shown = (frames[:, 3, 3, 0].astype(int) - 10) // 5
    t = np.arange(len(frames)) / fps
    np.testing.assert_array_equal(shown, _expected(t))
    # ~25 enrolled frames advance per second of speech, at every output rate
    adv = np.abs(np.diff(shown[: int(1.5 * fps)])).sum() / 1.5
    assert adv == pytest.approx(25, abs=1.5)

"""lipsync-train refuses unusable clips with one clear line and a non-zero exit, writing nothing."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def faceless_with_speech(tmp_path_factory):
    from pipelines.face.avatar.video_io import write_clip
    from pipelines.testing.talking_clip import espeak_speech

    audio, sr = espeak_speech(3.0)
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 60, (192, 256, 3), dtype=np.uint8)
    frames = [np.roll(tex, 4 * k, axis=1) + 80 for k in range(75)]
    return write_clip(tmp_path_factory.mktemp("c") / "no_face.mp4", frames, fps=25.0, audio=audio, sample_rate=sr)


@pytest.fixture(scope="module")
def talking_frames():
    from pipelines.testing.talking_clip import render_talking

    return render_talking(2.0, side=160)


@pytest.fixture(scope="module")
def mute_clip(tmp_path_factory, talking_frames):
    """The talking portrait with a sound track of silence."""
    from pipelines.face.avatar.video_io import write_clip

    frames, audio, sr = talking_frames
    return write_clip(
        tmp_path_factory.mktemp("c") / "mute.mp4", frames, fps=25.0, audio=np.zeros_like(audio), sample_rate=sr
    )


def _run(capsys, tmp_path, *args):
    from pipelines.__main__ import main

    out = tmp_path / "out"
    rc = main(["lipsync-train", "--out", str(out), *map(str, args)])
    err = capsys.readouterr().err.strip().splitlines()
    assert not out.exists() or not any(out.iterdir())
    return rc, err


def test_no_face(capsys, tmp_path, faceless_with_speech):
    rc, err = _run(capsys, tmp_path, faceless_with_speech, "--min-seconds", "1")
    assert rc == 2 and len(err) == 1
    assert "no face" in err[0] and "Traceback" not in err[0]


def test_too_short(capsys, tmp_path, talking_clip):
    rc, err = _run(capsys, tmp_path, talking_clip)  # the 6 s clip, against the default 60 s minimum
    assert rc == 2 and len(err) == 1
    assert "at least 60 s" in err[0]


def test_no_speech(capsys, tmp_path, mute_clip):
    rc, err = _run(capsys, tmp_path, mute_clip, "--min-seconds", "1")
    assert rc == 2 and len(err) == 1
    assert "no speech" in err[0]


def test_no_sound_track(capsys, tmp_path, talking_frames):
    from pipelines.face.avatar.video_io import write_clip

    clip = write_clip(tmp_path / "silent.mp4", talking_frames[0], fps=25.0)
    rc, err = _run(capsys, tmp_path, clip, "--min-seconds", "1")
    assert rc == 2 and len(err) == 1
    assert "no sound track" in err[0]

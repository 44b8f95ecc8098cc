"""Fixtures for the face tests: the bundled portrait, throw-away personas, a loaded warp renderer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PORTRAIT = REPO / "source" / "default" / "portrait.png"


@pytest.fixture(scope="session")
def portrait_path() -> Path:
    assert PORTRAIT.is_file(), "source/default/portrait.png is missing (python -m pipelines.assets.portrait)"
    return PORTRAIT


@pytest.fixture(scope="session")
def portrait_rgb(portrait_path) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.imread(str(portrait_path))[..., ::-1])


@pytest.fixture
def make_persona(tmp_path, portrait_path):
    """A persona folder in tmp_path (persona.json + the bundled portrait)."""

    def make(name: str = "lin", portrait: Path | None = portrait_path) -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "persona.json").write_text('{"name": "%s", "display_name": "%s"}' % (name, name))
        if portrait is not None:
            shutil.copy(portrait, root / "portrait.png")
        return root

    return make


@pytest.fixture(scope="session")
def portrait_avatar(portrait_path):
    from pipelines.face.avatar.enroll import build_avatar

    avatar, _ = build_avatar([portrait_path])
    return avatar


@pytest.fixture(scope="session")
def renderer(portrait_avatar):
    """A loaded ``WarpRenderer`` on the bundled portrait (built in memory: nothing written)."""
    from pipelines.face.warp.renderer import WarpRenderer
    from pipelines.persona import Persona
    from pipelines.settings import Settings

    r = WarpRenderer.from_settings(Settings(), Persona.load(REPO / "source" / "default"), avatar=portrait_avatar)
    r.load()
    return r


@pytest.fixture(scope="session")
def head_motion_clip(tmp_path_factory):
    """A 4 s, 30 fps, 640x360 H.264 clip of the portrait moving like a handheld recording."""
    from pipelines.testing.portrait_clip import make_head_motion_clip

    path = tmp_path_factory.mktemp("clips") / "head_motion.mp4"
    p, mats = make_head_motion_clip(path, seconds=4.0, fps=30.0, size=(640, 360))
    return p, mats


@pytest.fixture(scope="session")
def faceless_clip(tmp_path_factory):
    """3 s of a moving coloured gradient with texture, and no face."""
    from pipelines.face.avatar.video_io import write_clip

    rng = np.random.default_rng(0)
    tex = rng.integers(0, 60, (360, 640, 3), dtype=np.uint8)
    y, x = np.mgrid[0:360, 0:640]

    def frames():
        for k in range(75):
            g = ((x + 4 * k) % 640 / 640 * 180 + (y / 360) * 60).astype(np.uint8)
            yield np.stack([g, 255 - g, (g // 2 + 60)], -1).astype(np.uint8) // 2 + tex

    return write_clip(tmp_path_factory.mktemp("clips") / "no_face.mp4", frames(), fps=25.0)

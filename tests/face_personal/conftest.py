"""Fixtures for the personal lip-sync tests: a talking clip with a known mouth, its data, trained runs.

* ``talking_clip``: 6 s of the bundled portrait animated by ``warp`` speaking espeak-ng
  sentences (0.4 s of silence first), 256x256 at 25 fps, H.264 + AAC;
* ``prepared``: its training data at 64 px crops (the last 15 % held out);
* ``trained``: a width-4 model trained 4 epochs on it (a few seconds per epoch);
* ``small``: the same data with 40 training frames, for the resume test.
"""

from __future__ import annotations

import numpy as np
import pytest

EPOCHS = 4
WIDTH, CROP = 4, 64


@pytest.fixture(scope="session", autouse=True)
def _threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def talking_clip(tmp_path_factory):
    from pipelines.testing.talking_clip import make_talking_clip

    return make_talking_clip(tmp_path_factory.mktemp("clips") / "talking.mp4", seconds=6.0, side=256)


@pytest.fixture(scope="session")
def prepared(talking_clip):
    from pipelines.face.personal.data import prepare

    return prepare([talking_clip], crop=CROP, min_seconds=2.0, val_share=0.15)


def options(epochs: int = EPOCHS):
    from pipelines.face.personal.train import TrainOptions

    return TrainOptions(
        width=WIDTH,
        crop=CROP,
        epochs=epochs,
        batch=4,
        lr=4e-3,
        mouth_weight=8.0,
        min_seconds=2.0,
        val_share=0.15,
        device="cpu",
    )


@pytest.fixture(scope="session")
def small(prepared):
    """The prepared data with only its first 40 training frames (for runs that test bookkeeping)."""
    import dataclasses

    return dataclasses.replace(prepared, train_idx=prepared.train_idx[:40])


@pytest.fixture(scope="session")
def trained(prepared, tmp_path_factory):
    from pipelines.face.personal.train import train

    out = tmp_path_factory.mktemp("run")
    return train(None, out, options(), data=prepared)


@pytest.fixture(scope="session")
def speech():
    from pipelines.testing.fresh_espeak import speak_fresh

    (pcm,), sr = speak_fresh(["Good morning, how are you today?"])  # the same audio whatever this process spoke before
    pad = np.zeros(int(0.3 * sr), np.float32)
    return np.concatenate([pad, pcm.astype(np.float32) / 32768.0, pad]), sr

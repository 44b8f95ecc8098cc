"""Training: the validation loss falls, the run's files are written, and --resume continues the same run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.face_personal.conftest import EPOCHS, options


def test_a_few_epochs_lower_the_validation_loss(trained):
    losses = trained["eval_losses"]
    assert len(losses) == EPOCHS
    assert losses[-1] < 0.8 * losses[0]
    out = Path(trained["out"])
    assert (out / "personal.safetensors").is_file() and (out / "best" / "model.safetensors").is_file()
    assert (out / "loss.png").stat().st_size > 1000
    records = [json.loads(line) for line in (out / "loss.jsonl").read_text().splitlines()]
    assert sum("eval_loss" in r for r in records) == EPOCHS
    assert [r["step"] for r in records if "loss" in r] == list(range(1, trained["steps"] + 1))


def test_best_weights_are_the_lowest_validation_loss(trained):
    from safetensors import safe_open

    from pipelines.face.personal.checkpoint import read_config

    path = Path(trained["out"]) / "personal.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    assert float(meta["eval_loss"]) == pytest.approx(min(trained["eval_losses"]), rel=1e-5)
    assert read_config(path) == {"width": 4, "crop": 64, "audio_features": "mel", "feature_dim": 80}


def test_resume_continues_the_same_run(small, tmp_path):
    from pipelines.face.personal.train import TrainingError, train

    straight = train(None, tmp_path / "straight", options(epochs=3), data=small)
    run = tmp_path / "run"
    first = train(None, run, options(epochs=2), data=small)
    with pytest.raises(TrainingError, match="--resume"):
        train(None, run, options(epochs=3), data=small)  # never over an existing run
    resumed = train(None, run, options(epochs=3), data=small, resume=True)
    assert resumed["steps"] == straight["steps"] > first["steps"]
    assert (run / "checkpoint-3").is_dir()
    # the resumed epoch is the uninterrupted run's epoch: same batches from the same weights
    assert resumed["eval_losses"][:2] == pytest.approx(first["eval_losses"], rel=1e-6)
    np.testing.assert_allclose(resumed["eval_losses"], straight["eval_losses"], rtol=1e-3)
    steps = [json.loads(line)["step"] for line in (run / "loss.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == straight["steps"]


def test_resume_without_a_checkpoint_is_refused(small, tmp_path):
    from pipelines.face.personal.train import TrainingError, train

    with pytest.raises(TrainingError, match="no checkpoint"):
        train(None, tmp_path, options(epochs=1), data=small, resume=True)

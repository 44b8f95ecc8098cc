"""A model file must never run code: a malicious pickle in every format, through every loader."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from .helpers import one_error_line, run_cli


class Payload:
    """Unpickling this runs ``touch MARKER`` (what an attacker's checkpoint would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def write_evil(path, fmt, marker):
    obj = {"model": {"w": torch.zeros(2)}, "state_dict": {"w": torch.zeros(2)}, "cfg": Payload(marker)}
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:  # a plain pickle: torch's legacy reader unpickles its "magic number" first
        path.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    return path


FORMATS = ("zip", "legacy", "plain")


@pytest.fixture(params=FORMATS)
def evil(request, tmp_path):
    marker = tmp_path / "PWNED"
    return write_evil(tmp_path / "evil.pt", request.param, marker), marker


def test_contentvec_loader_refuses(evil):
    from pipelines.voice.contentvec import ContentVecError, load_contentvec

    path, marker = evil
    with pytest.raises(ContentVecError) as info:
        load_contentvec(path, final_proj=False)
    assert not marker.exists(), "the payload ran"
    msg = str(info.value)
    assert "\n" not in msg and "refus" in msg, msg
    assert "posix.system" in msg or "os.system" in msg, msg


def test_sovits_wav2lip_ptuning_loaders_refuse(evil):
    from pipelines.dialogue.ptuning_checkpoint import PtuningError, load_state_file
    from pipelines.face.wav2lip.checkpoint import CheckpointError, read_state_dict
    from pipelines.voice.sovits_loader import SovitsModelError, load_generator_state

    path, marker = evil
    for fn, err in (
        (load_generator_state, SovitsModelError),
        (read_state_dict, CheckpointError),
        (load_state_file, PtuningError),
    ):
        with pytest.raises(err) as info:
            fn(path)
        msg = str(info.value)
        assert not marker.exists(), f"the payload ran through {fn.__name__}"
        assert "\n" not in msg and "refused" in msg, (fn.__name__, msg)


def test_restricted_unpickler_still_reads_a_fairseq_style_checkpoint(tmp_path):
    """What the real checkpoint_best_legacy_500.pt holds: Namespace args, numpy scalars, fairseq meters."""
    import argparse
    import sys
    import types

    from pipelines.voice.contentvec import _read_checkpoint

    fake = types.ModuleType("fairseq.logging.meters")

    class AverageMeter:
        def __init__(self):
            self.val = np.float64(1.5)

    AverageMeter.__module__ = "fairseq.logging.meters"
    AverageMeter.__qualname__ = "AverageMeter"
    fake.AverageMeter = AverageMeter
    names = ("fairseq", "fairseq.logging", "fairseq.logging.meters")
    for name in names[:2]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["fairseq.logging.meters"] = fake
    try:
        ckpt = {
            "args": argparse.Namespace(encoder_layers=2),
            "model": {"w": torch.ones(3)},
            "extra_state": {"metrics": {"train": [AverageMeter()]}, "best": np.float32(0.5), "arr": np.arange(3)},
        }
        path = tmp_path / "checkpoint_best_legacy_500.pt"
        torch.save(ckpt, path, _use_new_zipfile_serialization=False)
    finally:
        for name in names:
            del sys.modules[name]
    got = _read_checkpoint(path)
    assert got["args"].encoder_layers == 2
    assert torch.equal(got["model"]["w"], torch.ones(3))
    assert float(got["extra_state"]["best"]) == 0.5
    assert type(got["extra_state"]["metrics"]["train"][0]).__name__ == "AverageMeter"


@pytest.mark.parametrize("fmt", ["plain"])  # the other formats: in-process above (each CLI run costs ~15 s)
def test_voice_train_cli_refuses_evil_contentvec(tmp_path, fmt):
    import soundfile as sf

    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 6) / 16000
    for i in range(5):
        y = 0.3 * np.sin(2 * np.pi * (150 + 10 * i) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(clips / f"c{i}.wav", y.astype(np.float32), 16000)
    marker = tmp_path / "PWNED"
    evil = write_evil(tmp_path / "evil.pt", fmt, marker)
    proc = run_cli(
        [
            "-m",
            "pipelines",
            "voice-train",
            "--clips",
            str(clips),
            "--out",
            str(tmp_path / "voice"),
            "--contentvec",
            str(evil),
            "--size",
            "tiny",
            "--epochs",
            "1",
        ],
        cwd=tmp_path,
    )
    line = one_error_line(proc)
    assert not marker.exists(), "the payload ran"
    assert "refus" in line and "evil.pt" in line, line

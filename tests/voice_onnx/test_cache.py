"""The exports are cached beside the model, keyed by the checkpoint's hash, and rebuilt when it changes."""

from __future__ import annotations

import numpy as np

from pipelines.voice.sovits_onnx.runtime import OnnxSovitsVoice
from pipelines.voice.sovits_vc import SovitsVoice
from tests.voice_sovits.original_layout import config_for, random_generator, save_checkpoint


def test_first_use_exports_beside_the_model_and_the_second_finds_them(fresh_voice_files, speech):
    model, cv = fresh_voice_files
    lines: list[str] = []
    first = OnnxSovitsVoice(model, cv, log=lines.append)
    assert any("exporting" in line for line in lines) and any("[2/2]" in line for line in lines)
    assert first.paths.generator.parent == model and first.paths.contentvec.parent == cv
    stamps = {p: p.stat().st_mtime_ns for p in (first.paths.generator, first.paths.contentvec)}
    again: list[str] = []
    second = OnnxSovitsVoice(model, cv, log=again.append)
    assert again == [] and second.paths == first.paths
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, "a cached export is not rewritten"
    samples, sr = speech
    assert np.array_equal(first.convert(samples, sr), second.convert(samples, sr))


def test_a_changed_checkpoint_gets_a_new_export(fresh_voice_files, speech):
    model, cv = fresh_voice_files
    old = OnnxSovitsVoice(model, cv, log=lambda line: None)
    (ckpt,) = model.glob("G_*.pth")
    save_checkpoint(random_generator(config_for("4.1"), seed=11), ckpt)  # retrained: same name, new weights
    lines: list[str] = []
    new = OnnxSovitsVoice(model, cv, log=lines.append)
    assert new.paths.generator != old.paths.generator and new.paths.generator.is_file()
    assert new.paths.contentvec == old.paths.contentvec, "the encoder did not change: its export is kept"
    assert any("generator" in line for line in lines) and not any("ContentVec encoder" in line for line in lines)
    samples, sr = speech
    torch_new = SovitsVoice(model, cv).convert(samples, sr)
    out = new.convert(samples, sr)
    assert float(np.max(np.abs(out - torch_new))) < 1e-3, "the new export is of the new checkpoint"
    assert float(np.max(np.abs(out - old.convert(samples, sr)))) > 1e-2


def test_a_read_only_model_folder_exports_to_the_user_cache(fresh_voice_files, tmp_path, monkeypatch):
    import os

    model, cv = fresh_voice_files
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    os.chmod(model, 0o555)
    try:
        if os.access(model, os.W_OK):  # running as root: permissions do not bind
            return
        voice = OnnxSovitsVoice(model, cv, log=lambda line: None)
        assert voice.paths.generator.parent == tmp_path / "xdg" / "digital-persona" / "sovits"
        assert sorted(p.name for p in model.iterdir()) == ["G_100.pth", "config.json"]
    finally:
        os.chmod(model, 0o755)

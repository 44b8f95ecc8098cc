"""Official-format checkpoints load (module. prefix stripped); wrong ones are refused clearly."""

import pytest
import torch

from pipelines.face.wav2lip.checkpoint import (
    CheckpointError,
    load_wav2lip,
    save_checkpoint,
)
from pipelines.face.wav2lip.model import Wav2Lip


def test_official_format_round_trip(w2l_model, w2l_checkpoint, real_pairs):
    raw = torch.load(w2l_checkpoint, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "optimizer", "global_step", "global_epoch"}
    assert all(k.startswith("module.") for k in raw["state_dict"])
    loaded = load_wav2lip(w2l_checkpoint)
    ref = w2l_model.state_dict()
    got = loaded.state_dict()
    assert set(got) == set(ref)
    for k in ref:
        assert torch.equal(got[k], ref[k]), k
    mels, faces = (torch.from_numpy(x[:2]) for x in real_pairs)
    with torch.no_grad():
        assert torch.equal(loaded(mels, faces), w2l_model(mels, faces))


def test_bare_state_dict_without_prefix_loads(w2l_model, tmp_path, real_pairs):
    path = tmp_path / "bare.pth"
    torch.save(w2l_model.state_dict(), path)
    loaded = load_wav2lip(path)
    mels, faces = (torch.from_numpy(x[:1]) for x in real_pairs)
    with torch.no_grad():
        assert torch.equal(loaded(mels, faces), w2l_model(mels, faces))


def test_syncnet_checkpoint_is_refused_by_name(tmp_path):
    fake = {
        "module.face_encoder.0.conv_block.0.weight": torch.zeros(32, 15, 7, 7),
        "module.audio_encoder.0.conv_block.0.weight": torch.zeros(32, 1, 3, 3),
    }
    path = tmp_path / "lipsync_expert.pth"
    torch.save({"state_dict": fake, "global_step": 0}, path)
    with pytest.raises(CheckpointError) as err:
        load_wav2lip(path)
    msg = str(err.value)
    assert "SyncNet" in msg and "wav2lip_gan.pth" in msg and "missing keys" in msg
    assert str(path) in msg


def test_shape_mismatch_names_the_layer_and_shapes(tmp_path):
    model = Wav2Lip()
    sd = model.state_dict()
    sd["face_encoder_blocks.0.0.conv_block.0.weight"] = torch.zeros(32, 6, 3, 3)
    path = tmp_path / "wav2lip_192.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, path)
    with pytest.raises(CheckpointError) as err:
        load_wav2lip(path)
    msg = str(err.value)
    assert "face_encoder_blocks.0.0.conv_block.0.weight" in msg
    assert "(32, 6, 3, 3)" in msg and "(16, 6, 7, 7)" in msg
    assert "shape mismatch" in msg


def test_missing_layers_are_refused(tmp_path):
    sd = {k: v for k, v in Wav2Lip().state_dict().items() if not k.startswith("output_block")}
    path = tmp_path / "partial.pth"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(CheckpointError, match=r"missing keys \(e\.g\. output_block"):
        load_wav2lip(path)


class _NotWeights:
    pass


def test_pickled_code_is_not_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "extra": _NotWeights()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_wav2lip(path)


def test_missing_and_non_torch_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*module/wav2lip"):
        load_wav2lip(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_wav2lip(junk)


def test_the_loader_sniffs_and_names_what_the_file_is(tmp_path, w2l_checkpoint):
    from pipelines.face.wav2lip.checkpoint import sniff

    html = tmp_path / "wav2lip_gan.pth"
    html.write_text("<!DOCTYPE html>\n<html lang='en'><head><title>Wav2Lip - Google Drive</title></head></html>")
    lfs = tmp_path / "lfs.pth"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4fa0a2b6e2d\nsize 435801865\n")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    legacy = tmp_path / "legacy.pth"
    torch.save({"state_dict": {}}, legacy, _use_new_zipfile_serialization=False)
    assert [sniff(p) for p in (html, lfs, empty, legacy, w2l_checkpoint)] == [
        "html",
        "git-lfs pointer",
        "empty",
        "legacy torch",
        "zip",
    ]
    for path, words in ((html, "web page (HTML)"), (lfs, "git-lfs pointer"), (empty, "empty file")):
        with pytest.raises(CheckpointError) as err:
            load_wav2lip(path)
        assert words in str(err.value) and "weights_only=False" not in str(err.value)


def test_a_high_resolution_fork_is_recognised_by_its_shapes(tmp_path):
    sd = Wav2Lip().state_dict()
    sd["face_encoder_blocks.0.0.conv_block.0.weight"] = torch.zeros(8, 6, 7, 7)  # 6 -> 8 as in a 384 fork
    sd["face_encoder_blocks.7.0.conv_block.0.weight"] = torch.zeros(512, 512, 3, 3)
    sd["face_encoder_blocks.8.0.conv_block.0.weight"] = torch.zeros(512, 512, 3, 3)
    path = tmp_path / "wav2lip_384.pth"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(CheckpointError) as err:
        load_wav2lip(path)
    msg = str(err.value)
    assert "high-resolution Wav2Lip fork" in msg and "9 face-encoder blocks" in msg and "384" in msg
    assert "6->8" in msg


def test_save_is_atomic_and_leaves_no_temp_files(w2l_model, tmp_path):
    path = save_checkpoint(w2l_model, tmp_path / "ck.pth", data_parallel_prefix=False)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pth"]
    raw = torch.load(path, weights_only=True)
    assert not any(k.startswith("module.") for k in raw["state_dict"])

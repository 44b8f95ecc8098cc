"""ContentVec's checkpoint_best_legacy_500.pt layout (fairseq save_state), tiny, in both torch formats:
it loads through the allow-list unpickler, and the same layout with one malicious object is refused."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from .fairseq_layout import fairseq_hubert_state, fairseq_modules, legacy_checkpoint

FORMATS = ("zip", "legacy")


def _tiny_hubert():
    from transformers import HubertConfig

    from pipelines.voice.contentvec import _model_class

    cfg = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        classifier_proj_size=16,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    torch.manual_seed(5)
    return _model_class()(cfg).eval()


def _save(ckpt, path, fmt):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path, _use_new_zipfile_serialization=(fmt == "zip"))
    return path


def _units(model):
    from pipelines.voice.contentvec import content_units

    wav = torch.from_numpy(np.random.default_rng(1).standard_normal(8000).astype(np.float32))[None]
    return content_units(model, wav, layer=9, final_proj=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_real_layout_loads_through_the_allow_list(tmp_path, fmt):
    from pipelines.voice.contentvec import _read_checkpoint, load_contentvec

    ref = _tiny_hubert()
    with fairseq_modules():
        path = _save(
            legacy_checkpoint(fairseq_hubert_state(ref), ref.config),
            tmp_path / "hubert" / "checkpoint_best_legacy_500.pt",
            fmt,
        )
    with pytest.raises(pickle.UnpicklingError):  # torch's own safe loader alone refuses this file
        torch.load(path, weights_only=True)
    raw = _read_checkpoint(path)
    assert set(raw) == {"args", "model", "optimizer_history", "extra_state", "task_state", "last_optimizer_state"}
    assert raw["args"].encoder_attention_heads == 2 and raw["args"].labels == ["km"]
    assert float(raw["extra_state"]["val_loss"]) == pytest.approx(3.21)
    assert type(raw["task_state"]["dictionaries"][0]).__name__ == "Dictionary"
    assert raw["last_optimizer_state"]["param_groups"][0]["betas"] == (0.9, 0.98)
    model = load_contentvec(path.parent)  # DL-B's hubert/ folder
    torch.testing.assert_close(_units(model), _units(ref), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("fmt", FORMATS)
def test_malicious_object_in_the_real_layout_is_refused(tmp_path, fmt):
    from pipelines.voice.contentvec import ContentVecError, load_contentvec

    ref = _tiny_hubert()
    marker = tmp_path / "PWNED"
    with fairseq_modules():
        ckpt = legacy_checkpoint(fairseq_hubert_state(ref), ref.config, evil_marker=marker)
        path = _save(ckpt, tmp_path / "checkpoint_best_legacy_500.pt", fmt)
    with pytest.raises(ContentVecError) as info:
        load_contentvec(path)
    assert not marker.exists(), "the payload ran"
    msg = str(info.value)
    assert "\n" not in msg and "refusing" in msg and ("posix.system" in msg or "os.system" in msg), msg

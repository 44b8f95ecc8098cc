"""ContentVec from a local Hugging Face folder or a fairseq checkpoint; never a hub."""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import pytest
import torch

from pipelines.voice.contentvec import ContentVecError, load_contentvec, resolve_contentvec

from .helpers import tiny_hubert_config


def _features(model, seed=0):
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(8000).astype(np.float32))[None]
    with torch.no_grad():
        out = model(x, output_hidden_states=True)
    return out["last_hidden_state"], model.final_proj(out["hidden_states"][1])


def test_hf_folder_loads_the_saved_weights(contentvec_dir):
    from safetensors.torch import load_file

    model = load_contentvec(contentvec_dir)
    saved = load_file(str(contentvec_dir / "model.safetensors"))
    assert torch.equal(model.final_proj.weight, saved["final_proj.weight"])
    assert not model.training
    last, proj = _features(model)
    assert last.shape[-1] == 32 and proj.shape[-1] == 16


class FairseqTask:  # stands for a fairseq/omegaconf class that is not importable when loading
    def __init__(self, name):
        self.name = name


def _fairseq_state_from(model) -> dict:
    """Write a HF HuBERT's weights under fairseq HuBERT's own parameter names (hand-written table)."""
    sd = model.state_dict()
    out = {}
    for i in range(7):
        out[f"feature_extractor.conv_layers.{i}.0.weight"] = sd[f"feature_extractor.conv_layers.{i}.conv.weight"]
    out["feature_extractor.conv_layers.0.2.weight"] = sd["feature_extractor.conv_layers.0.layer_norm.weight"]
    out["feature_extractor.conv_layers.0.2.bias"] = sd["feature_extractor.conv_layers.0.layer_norm.bias"]
    for a, b in (
        ("layer_norm", "feature_projection.layer_norm"),
        ("post_extract_proj", "feature_projection.projection"),
        ("encoder.layer_norm", "encoder.layer_norm"),
        ("final_proj", "final_proj"),
    ):
        out[f"{a}.weight"], out[f"{a}.bias"] = sd[f"{b}.weight"], sd[f"{b}.bias"]
    out["encoder.pos_conv.0.weight_g"] = sd["encoder.pos_conv_embed.conv.parametrizations.weight.original0"]
    out["encoder.pos_conv.0.weight_v"] = sd["encoder.pos_conv_embed.conv.parametrizations.weight.original1"]
    out["encoder.pos_conv.0.bias"] = sd["encoder.pos_conv_embed.conv.bias"]
    names = {
        "self_attn.k_proj": "attention.k_proj",
        "self_attn.q_proj": "attention.q_proj",
        "self_attn.v_proj": "attention.v_proj",
        "self_attn.out_proj": "attention.out_proj",
        "self_attn_layer_norm": "layer_norm",
        "fc1": "feed_forward.intermediate_dense",
        "fc2": "feed_forward.output_dense",
        "final_layer_norm": "final_layer_norm",
    }
    for i in range(2):
        for a, b in names.items():
            for w in ("weight", "bias"):
                out[f"encoder.layers.{i}.{a}.{w}"] = sd[f"encoder.layers.{i}.{b}.{w}"]
    out["mask_emb"] = sd["masked_spec_embed"]
    out["label_embs_concat"] = torch.zeros(3, 16)
    return out


def test_fairseq_checkpoint_with_foreign_objects_loads_without_running_their_code(tmp_path, monkeypatch):
    import sys
    import types

    from pipelines.voice.contentvec import _model_class

    # pickled under fairseq's own module name, as in the real file (the loader refuses any other module)
    for name in ("fairseq", "fairseq.tasks", "fairseq.tasks.hubert_pretraining"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(FairseqTask, "__module__", "fairseq.tasks.hubert_pretraining")
    sys.modules["fairseq.tasks.hubert_pretraining"].FairseqTask = FairseqTask
    torch.manual_seed(3)
    ref = _model_class()(tiny_hubert_config()).eval()
    ckpt = {
        "args": argparse.Namespace(encoder_attention_heads=2),
        "task_state": FairseqTask("hubert_pretraining"),
        "model": _fairseq_state_from(ref),
        "optimizer_history": [],
    }
    path = tmp_path / "hubert" / "checkpoint_best_legacy_500.pt"
    path.parent.mkdir()
    torch.save(ckpt, path)
    with pytest.raises(pickle.UnpicklingError):  # the safe loader alone refuses the foreign class
        torch.load(path, weights_only=True)
    assert resolve_contentvec(path.parent) == ("fairseq", path)  # DL-B's hubert/ folder works too
    model = load_contentvec(path.parent)
    for got, want in zip(_features(model), _features(ref)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_missing_empty_and_corrupt_contentvec_are_clear_errors(tmp_path, contentvec_dir):
    with pytest.raises(ContentVecError, match="no ContentVec encoder configured"):
        load_contentvec("")
    with pytest.raises(ContentVecError, match="not found"):
        load_contentvec(tmp_path / "none")
    cfg_only = tmp_path / "cfg_only"
    cfg_only.mkdir()
    (cfg_only / "config.json").write_text((contentvec_dir / "config.json").read_text())
    with pytest.raises(ContentVecError, match="no model weights"):
        load_contentvec(cfg_only)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text((contentvec_dir / "config.json").read_text())
    (corrupt / "model.safetensors").write_bytes((contentvec_dir / "model.safetensors").read_bytes()[:500])
    with pytest.raises(ContentVecError, match="could not load the ContentVec/HuBERT model"):
        load_contentvec(corrupt)
    garbage = tmp_path / "checkpoint_best_legacy_500.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ContentVecError, match="not a readable checkpoint"):
        load_contentvec(garbage)
    other = tmp_path / "other.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, other)
    with pytest.raises(ContentVecError, match="not a fairseq HuBERT/ContentVec checkpoint"):
        load_contentvec(other)


def test_plain_hubert_without_final_proj_is_refused_for_legacy_models(tmp_path):
    from transformers import HubertModel

    HubertModel(tiny_hubert_config()).save_pretrained(str(tmp_path / "plain"))
    with pytest.raises(ContentVecError, match="no 'final_proj' layer"):
        load_contentvec(tmp_path / "plain", final_proj=True)
    model = load_contentvec(tmp_path / "plain", final_proj=False)  # 768-style models use the last layer only
    assert model(torch.zeros(1, 4000))["last_hidden_state"].shape[-1] == 32


def test_fork_get_hubert_model_is_routed_to_the_local_folder(contentvec_dir):
    from pipelines.voice import sovits_compat

    utils = sovits_compat.import_fork()
    with pytest.raises(ContentVecError, match="no local folder is configured"):
        utils.get_hubert_model("cpu", True)
    with sovits_compat.contentvec_source(contentvec_dir):
        model = utils.get_hubert_model("cpu", True)
    assert model.config.hidden_size == 32 and hasattr(model, "final_proj")

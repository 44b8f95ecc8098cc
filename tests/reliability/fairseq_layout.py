"""A tiny ContentVec checkpoint in the layout of the real ``checkpoint_best_legacy_500.pt``.

fairseq's ``checkpoint_utils.save_state`` (the 0.10-era trainer ContentVec was trained with)
writes a dict with: ``args`` (an ``argparse.Namespace`` of every training flag; ``cfg`` absent
or ``None``), ``model`` (the HuBERT state dict under fairseq's own parameter names),
``optimizer_history`` (one record per optimizer change: criterion/optimizer names, the LR
scheduler's state, ``num_updates``), ``extra_state`` (``train_iterator`` position, numpy
``val_loss``/``best``, training meters as fairseq objects), ``task_state`` (the hubert
pretraining task's label dictionaries: ``fairseq.data.dictionary.Dictionary`` objects) and
``last_optimizer_state`` (Adam moments per parameter, ``loss_scale`` under fp16).  The fairseq
classes are pickled under their real module names from stand-in classes, as the loader must
never import or run them.
"""

from __future__ import annotations

import argparse
import os
import sys
import types

import numpy as np
import torch

FAIRSEQ_MODULES = ("fairseq", "fairseq.data", "fairseq.data.dictionary", "fairseq.logging", "fairseq.logging.meters")


def _fairseq_class(module: str, name: str, init):
    cls = type(name, (), {"__init__": init, "__module__": module, "__qualname__": name})
    return cls


def _dictionary_init(self, n_units=4):
    self.bos_word, self.unk_word, self.pad_word, self.eos_word = "<s>", "<unk>", "<pad>", "</s>"
    self.symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [str(i) for i in range(n_units)]
    self.count = [1, 1, 1, 1] + [100 + i for i in range(n_units)]
    self.indices = {s: i for i, s in enumerate(self.symbols)}
    self.bos_index, self.pad_index, self.eos_index, self.unk_index = 0, 1, 2, 3
    self.nspecial = 4


def _meter_init(self):
    self.val, self.sum, self.count, self.round = np.float64(2.5), 25.0, 10, 3


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def hubert_args(hf_config) -> argparse.Namespace:
    """fairseq's training flags for HuBERT base, with the tiny model's sizes."""
    return argparse.Namespace(
        arch="hubert",
        task="hubert_pretraining",
        criterion="hubert",
        optimizer="adam",
        adam_betas="(0.9,0.98)",
        adam_eps=1e-06,
        lr=[0.0005],
        lr_scheduler="polynomial_decay",
        max_update=500000,
        fp16=True,
        data="/checkpoint/data/librispeech",
        label_dir="/checkpoint/labels",
        labels=["km"],
        label_rate=50,
        sample_rate=16000,
        encoder_layers=hf_config.num_hidden_layers,
        encoder_embed_dim=hf_config.hidden_size,
        encoder_ffn_embed_dim=hf_config.intermediate_size,
        encoder_attention_heads=hf_config.num_attention_heads,
        activation_fn="gelu",
        extractor_mode="default",
        layer_norm_first=False,
        conv_feature_layers="[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2",
        conv_pos=hf_config.num_conv_pos_embeddings,
        conv_pos_groups=hf_config.num_conv_pos_embedding_groups,
        final_dim=hf_config.classifier_proj_size,
        dropout=0.1,
        logit_temp=0.1,
        seed=1,
        distributed_world_size=36,
    )


def legacy_checkpoint(model_state: dict, hf_config, evil_marker=None) -> dict:
    """The checkpoint dict; the fairseq stand-in classes must be registered (``fairseq_modules``)."""
    Dictionary = sys.modules["fairseq.data.dictionary"].Dictionary
    AverageMeter = sys.modules["fairseq.logging.meters"].AverageMeter
    params = [v for v in model_state.values() if v.dtype.is_floating_point]
    ckpt = {
        "args": hubert_args(hf_config),
        "model": model_state,
        "optimizer_history": [
            {
                "criterion_name": "HubertCriterion",
                "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": np.float64(3.21)},
                "num_updates": 500000,
            }
        ],
        "extra_state": {
            "train_iterator": {"epoch": 123, "iterations_in_epoch": 0, "shuffle": True},
            "val_loss": np.float64(3.21),
            "best": np.float64(3.2),
            "train_meters": {"train_loss": AverageMeter(), "wps": AverageMeter()},
            "previous_training_time": 1234567.8,
        },
        "task_state": {"dictionaries": [Dictionary()]},
        "last_optimizer_state": {
            "state": {
                i: {"step": 500000, "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.ones_like(p)}
                for i, p in enumerate(params[:3])
            },
            "param_groups": [
                {"lr": 0.0, "betas": (0.9, 0.98), "eps": 1e-06, "weight_decay": 0.01, "params": [0, 1, 2]}
            ],
            "loss_scale": 64.0,
        },
    }
    if evil_marker is not None:  # the same layout, with one object that runs a command when unpickled
        ckpt["extra_state"]["train_meters"]["wps"] = Payload(evil_marker)
    return ckpt


class fairseq_modules:
    """Registers the stand-in fairseq classes while the file is written; removes them after."""

    def __enter__(self):
        for name in FAIRSEQ_MODULES:
            sys.modules[name] = types.ModuleType(name)
        sys.modules["fairseq.data.dictionary"].Dictionary = _fairseq_class(
            "fairseq.data.dictionary", "Dictionary", _dictionary_init
        )
        sys.modules["fairseq.logging.meters"].AverageMeter = _fairseq_class(
            "fairseq.logging.meters", "AverageMeter", _meter_init
        )
        return self

    def __exit__(self, *exc):
        for name in FAIRSEQ_MODULES:
            sys.modules.pop(name, None)


def fairseq_hubert_state(model) -> dict:
    """A HF HuBERT's weights under fairseq HuBERT's parameter names (fairseq/models/hubert/hubert.py)."""
    sd = model.state_dict()
    out = {}
    for i in range(len(model.config.conv_dim)):
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
    for i in range(model.config.num_hidden_layers):
        for a, b in names.items():
            for w in ("weight", "bias"):
                out[f"encoder.layers.{i}.{a}.{w}"] = sd[f"encoder.layers.{i}.{b}.{w}"]
    out["mask_emb"] = sd["masked_spec_embed"]
    out["label_embs_concat"] = torch.zeros(504, model.config.classifier_proj_size)
    return {k: v.clone() for k, v in out.items()}

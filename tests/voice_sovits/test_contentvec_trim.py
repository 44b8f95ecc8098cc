"""The ContentVec layers after the units' layer are dropped at load, and the units stay the same."""

from __future__ import annotations

import copy

import pytest
import torch

from pipelines.voice.contentvec import _model_class, content_units, trim_to_layer

from .helpers import tiny_hubert_config


def _tiny_hubert(layers: int, stable: bool = False):
    torch.manual_seed(0)
    cfg = tiny_hubert_config(
        num_hidden_layers=layers, do_stable_layer_norm=stable, feat_extract_norm="layer" if stable else "group"
    )
    return _model_class()(cfg).eval()


@pytest.mark.parametrize("final_proj", [True, False])
def test_trimmed_encoder_gives_the_same_units(final_proj):
    full = _tiny_hubert(4)
    wav = torch.randn(1, 16000)
    for layer in (1, 3, 4):
        ref = content_units(full, wav, layer, final_proj)
        trimmed = trim_to_layer(copy.deepcopy(full), layer)
        assert len(trimmed.encoder.layers) == layer
        torch.testing.assert_close(content_units(trimmed, wav, layer, final_proj), ref, rtol=0, atol=1e-6)
    # a layer past the end keeps every layer (the last one is used, as fairseq does)
    assert len(trim_to_layer(copy.deepcopy(full), 12).encoder.layers) == 4


def test_stable_layer_norm_encoders_are_left_whole():
    """Large (pre-LN) encoders apply a final norm after the last layer: dropping layers would change it."""
    model = _tiny_hubert(3, stable=True)
    assert len(trim_to_layer(model, 1).encoder.layers) == 3

"""Tiny so-vits-svc models in the ORIGINAL repository's layouts (svc-develop-team/so-vits-svc).

Configs carry the keys of ``configs_template/config_template.json`` (4.1) or of the 4.0
template (no speech_encoder / vol_embedding / vocoder_name keys); checkpoints are wrapped as
``utils.save_checkpoint`` writes them (``model``, ``iteration``, ``optimizer``, ``learning_rate``);
release files as ``compress_model.py`` writes them (no ``enc_q``, optionally fp16, iteration 0).
The weights are random: these fixtures test layouts and plumbing, not voice quality."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

TINY_MODEL_41 = {
    "inter_channels": 16,
    "hidden_channels": 16,
    "filter_channels": 32,
    "n_heads": 2,
    "n_layers": 1,
    "kernel_size": 3,
    "p_dropout": 0.1,
    "resblock": "1",
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "upsample_rates": [8, 5, 4],
    "upsample_initial_channel": 32,
    "upsample_kernel_sizes": [16, 15, 8],
    "n_layers_q": 3,
    "n_layers_trans_flow": 3,
    "n_flow_layer": 4,
    "use_spectral_norm": False,
    "gin_channels": 16,
    "ssl_dim": 32,
    "n_speakers": 4,
    "vocoder_name": "nsf-hifigan",
    "speech_encoder": "vec768l12",
    "speaker_embedding": False,
    "vol_embedding": False,
    "use_depthwise_conv": False,
    "flow_share_parameter": False,
    "use_automatic_f0_prediction": True,
    "use_transformer_flow": False,
}
TINY_TRAIN = {
    "log_interval": 200,
    "eval_interval": 800,
    "seed": 1234,
    "epochs": 10000,
    "learning_rate": 0.0001,
    "betas": [0.8, 0.99],
    "eps": 1e-09,
    "batch_size": 6,
    "fp16_run": False,
    "half_type": "fp16",
    "lr_decay": 0.999875,
    "segment_size": 160 * 16,
    "init_lr_ratio": 1,
    "warmup_epochs": 0,
    "c_mel": 45,
    "c_kl": 1.0,
    "use_sr": True,
    "max_speclen": 512,
    "port": "8001",
    "keep_ckpts": 3,
    "all_in_mem": False,
    "vol_aug": False,
}
TINY_DATA = {
    "training_files": "filelists/train.txt",
    "validation_files": "filelists/val.txt",
    "max_wav_value": 32768.0,
    "sampling_rate": 16000,
    "filter_length": 512,
    "hop_length": 160,
    "win_length": 512,
    "n_mel_channels": 40,
    "mel_fmin": 0.0,
    "mel_fmax": 8000,
    "unit_interpolate_mode": "nearest",
}
# 4.0's model section: no 4.1 options; ssl_dim 256 in 4.0 (= ContentVec final_proj; 16 for the tiny encoder)
KEYS_41_ONLY = (
    "n_layers_trans_flow",
    "n_flow_layer",
    "vocoder_name",
    "speech_encoder",
    "speaker_embedding",
    "vol_embedding",
    "use_depthwise_conv",
    "flow_share_parameter",
    "use_automatic_f0_prediction",
    "use_transformer_flow",
)


def config_for(layout: str) -> dict:
    model = copy.deepcopy(TINY_MODEL_41)
    data = copy.deepcopy(TINY_DATA)
    if layout == "4.0":
        for k in KEYS_41_ONLY:
            model.pop(k)
        model["ssl_dim"] = 16
        data.pop("unit_interpolate_mode")
    elif layout == "4.1-vol":
        model["vol_embedding"] = True
    elif layout == "4.1-snake":
        model["vocoder_name"] = "nsf-snake-hifigan"
    elif layout == "4.1-vec256l9":
        model["speech_encoder"] = "vec256l9"
        model["ssl_dim"] = 16
    elif layout != "4.1":
        raise ValueError(layout)
    return {"train": copy.deepcopy(TINY_TRAIN), "data": data, "model": model, "spk": {"alice": 0, "bob": 1}}


def random_generator(config: dict, seed: int = 0):
    """A generator with the original's modules (random weights, ``enc_q`` included, weight norm on)."""
    from pipelines.voice.sovits_models import SynthesizerTrn

    m = config["model"]
    torch.manual_seed(seed)
    net = SynthesizerTrn(
        config["data"]["filter_length"] // 2 + 1,
        config["train"]["segment_size"] // config["data"]["hop_length"],
        **{
            k: m[k]
            for k in (
                "inter_channels",
                "hidden_channels",
                "filter_channels",
                "n_heads",
                "n_layers",
                "kernel_size",
                "p_dropout",
                "resblock",
                "resblock_kernel_sizes",
                "resblock_dilation_sizes",
                "upsample_rates",
                "upsample_initial_channel",
                "upsample_kernel_sizes",
                "gin_channels",
                "ssl_dim",
                "n_speakers",
            )
        },
        sampling_rate=config["data"]["sampling_rate"],
        vol_embedding=m.get("vol_embedding", False),
        vocoder_name=m.get("vocoder_name", "nsf-hifigan"),
    )
    with torch.no_grad():  # snake alphas / betas start at zero: move every weight off its init
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
        if hasattr(net, "emb_vol"):  # volume ~0.1: a weight large enough for it to matter
            net.emb_vol.weight.mul_(100.0)
    return net


def save_checkpoint(net, path: Path, iteration: int = 100) -> Path:
    """As the original ``utils.save_checkpoint``."""
    optim = torch.optim.AdamW(net.parameters(), 1e-4, betas=(0.8, 0.99), eps=1e-9)
    torch.save(
        {"model": net.state_dict(), "iteration": iteration, "optimizer": optim.state_dict(), "learning_rate": 1e-4},
        path,
    )
    return path


def write_model(folder: Path, layout: str, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = config_for(layout)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_checkpoint(random_generator(config, seed), folder / "G_100.pth")
    return folder


def compress(src: Path, dst: Path, half: bool = True) -> Path:
    """As ``compress_model.py``: drop ``enc_q``, optionally fp16, iteration 0, a fresh optimizer."""
    state = torch.load(src, map_location="cpu", weights_only=True)["model"]
    kept = {k: (v.half() if half else v) for k, v in state.items() if "enc_q" not in k}
    torch.save(
        {"model": kept, "iteration": 0, "optimizer": {"state": {}, "param_groups": []}, "learning_rate": 0.0001}, dst
    )
    return dst

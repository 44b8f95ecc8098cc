"""A random-initialised so-vits-svc 4.0 voice at DL-B's ``config.json`` sizes, for benchmarks and checks.

DL-B ran a so-vits-svc 4.0 model: 44.1 kHz, hop 512, 192-channel text encoder (6 layers,
2 heads), NSF-HiFiGAN with 512 initial channels and upsampling 8·8·2·2·2, 256-dim speaker
embedding, 256-dim ContentVec units (layer 9 through ``final_proj``: HuBERT-base size).
``DLB_CONFIG`` is DL-B's own ``configs/config.json`` (SkyFlap/Digital-Life-DL-B, commit 3ac7889),
key for key.  The files are written in the original layouts: ``config.json`` (4.0 keys) + ``G_0.pth``
(``utils.save_checkpoint``), and the encoder as a Hugging Face HuBERT folder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

DLB_CONFIG = {
    "train": {
        "log_interval": 200,
        "eval_interval": 800,
        "seed": 1234,
        "epochs": 10000,
        "learning_rate": 0.0001,
        "betas": [0.8, 0.99],
        "eps": 1e-09,
        "batch_size": 6,
        "fp16_run": False,
        "lr_decay": 0.999875,
        "segment_size": 10240,
        "init_lr_ratio": 1,
        "warmup_epochs": 0,
        "c_mel": 45,
        "c_kl": 1.0,
        "use_sr": True,
        "max_speclen": 512,
        "port": "8001",
        "keep_ckpts": 10,
    },
    "data": {
        "training_files": "filelists/train.txt",
        "validation_files": "filelists/val.txt",
        "max_wav_value": 32768.0,
        "sampling_rate": 44100,
        "filter_length": 2048,
        "hop_length": 512,
        "win_length": 2048,
        "n_mel_channels": 80,
        "mel_fmin": 0.0,
        "mel_fmax": 22050,
    },
    "model": {
        "inter_channels": 192,
        "hidden_channels": 192,
        "filter_channels": 768,
        "n_heads": 2,
        "n_layers": 6,
        "kernel_size": 3,
        "p_dropout": 0.1,
        "resblock": "1",
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "upsample_rates": [8, 8, 2, 2, 2],
        "upsample_initial_channel": 512,
        "upsample_kernel_sizes": [16, 16, 4, 4, 4],
        "n_layers_q": 3,
        "use_spectral_norm": False,
        "gin_channels": 256,
        "ssl_dim": 256,
        "n_speakers": 200,
    },
    "spk": {"speaker0": 0},
}


def write_dlb_voice(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """(model folder, ContentVec folder) of a random voice at DL-B's sizes under ``folder``."""
    import torch
    from transformers import HubertConfig

    from pipelines.voice import sovits_compat
    from pipelines.voice.contentvec import _model_class
    from pipelines.voice.sovits_loader import generator_kwargs, model_spec
    from pipelines.voice.sovits_models import SynthesizerTrn

    sovits_compat.import_fork()
    torch.manual_seed(seed)
    config = copy.deepcopy(DLB_CONFIG)
    cv = Path(folder) / "contentvec"
    _model_class()(HubertConfig(classifier_proj_size=256)).save_pretrained(str(cv))
    model = Path(folder) / "sovits-dlb"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text(json.dumps(config, indent=2))
    spec = model_spec(config, {"f0_decoder.x": None, "enc_q.x": None})
    d = config["data"]
    net = SynthesizerTrn(
        d["filter_length"] // 2 + 1,
        config["train"]["segment_size"] // d["hop_length"],
        **generator_kwargs(config, spec),
    )
    torch.save({"model": net.state_dict(), "iteration": 0, "optimizer": None, "learning_rate": 1e-4}, model / "G_0.pth")
    return model, cv

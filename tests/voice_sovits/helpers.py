"""Builders of small real inputs for the so-vits tests and benchmark: synthetic voiced clips and a
tiny random-initialised HuBERT saved as a local ContentVec folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def voiced_clip(f0: float, seconds: float, sr: int, seed: int = 0, vibrato: float = 0.03) -> np.ndarray:
    """A speech-like harmonic signal: F0 ``f0`` with slow vibrato, 20 harmonics shaped by two formants,
    a little breath noise, syllable-like amplitude bumps."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    inst = f0 * (1 + vibrato * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(inst) / sr
    y = np.zeros(n)
    for k in range(1, 21):
        fk = k * f0
        if fk > sr / 2 - 200:
            break
        gain = np.exp(-(((fk - 700) / 300) ** 2)) + 0.6 * np.exp(-(((fk - 1800) / 400) ** 2)) + 0.15
        y += gain / k**0.5 * np.sin(k * phase)
    y += 0.01 * rng.standard_normal(n)
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, np.pi)) ** 2
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.03)
    y = y * env * fade
    return (0.6 * y / np.max(np.abs(y))).astype(np.float32)


def write_clips(folder: Path, n: int, seconds: float = 1.5, sr: int = 16000, base_f0: float = 180.0) -> Path:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(str(folder / f"clip_{i:02d}.wav"), voiced_clip(base_f0 * (1 + 0.05 * i), seconds, sr, seed=i), sr)
    return folder


def tiny_hubert_config(**overrides):
    from transformers import HubertConfig

    kw = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        classifier_proj_size=16,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    kw.update(overrides)
    return HubertConfig(**kw)


def save_tiny_contentvec(folder: Path, seed: int = 0) -> Path:
    """A random-initialised HuBERT + final_proj in Hugging Face layout (config.json + model.safetensors)."""
    import torch

    from pipelines.voice.contentvec import _model_class

    torch.manual_seed(seed)
    model = _model_class()(tiny_hubert_config())
    model.save_pretrained(str(folder))
    return folder

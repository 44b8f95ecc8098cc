"""A Wav2Lip generator with random weights but realistic activations (tests and benchmarks).

The official weights cannot be shipped or downloaded here, so tests and
benchmarks use the real architecture with random weights.  PyTorch's default
initialisation plus identity BatchNorm makes activations shrink layer by
layer and the output a flat grey, which would make accuracy checks (ONNX
parity, int8 PSNR) meaningless.  Here convolutions get He initialisation and
every BatchNorm's running statistics are measured on real inputs (face crops
and speech mels), as after training: each layer's output is normalised, and
the generated faces depend visibly on the inputs.
"""

from __future__ import annotations

import numpy as np


def random_wav2lip(
    seed: int = 0, mels: np.ndarray | None = None, faces: np.ndarray | None = None, residual_gain: float = 0.25
):
    """A ``Wav2Lip`` in eval mode with He-initialised weights.

    With ``mels (B,1,80,16)`` and ``faces (B,6,96,96)`` (B >= 2) the BatchNorm
    running statistics are set from one pass over them; otherwise random
    statistics are drawn.  ``residual_gain`` scales the BatchNorm of residual
    branches (trained residual networks keep those small; at 1.0 a random deep
    network amplifies any perturbation of its input chaotically).
    """
    import torch
    from torch import nn

    from pipelines.face.wav2lip.model import Conv2d, Wav2Lip

    gen = torch.Generator().manual_seed(seed)
    model = Wav2Lip()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * m.weight[0, 0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * np.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(1.0 + 0.2 * torch.rand(m.running_var.shape, generator=gen))
    with torch.no_grad():  # before the statistics pass, so every later layer is measured with it
        for m in model.modules():
            if isinstance(m, Conv2d) and m.residual:
                m.conv_block[1].weight.mul_(residual_gain)
                m.conv_block[1].bias.mul_(residual_gain)
    if mels is not None and faces is not None:
        if len(mels) < 2 or len(mels) != len(faces):
            raise ValueError("BatchNorm statistics need at least 2 (mel, face) pairs of equal count")
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the pass
        model.train()
        with torch.no_grad():
            model(torch.as_tensor(mels, dtype=torch.float32), torch.as_tensor(faces, dtype=torch.float32))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                # near-identical calibration inputs give ~0 variance on 1x1 layers: floor it
                floor = 0.05 * float(m.running_var.mean()) + 1e-3
                m.running_var.clamp_(min=floor)
    return model.eval()

"""The generator's architecture: official layer names and shapes, tensor shapes, inference rewrites."""

import copy

import numpy as np
import pytest
import torch

from pipelines.face.wav2lip.model import Wav2Lip, fuse_batchnorm, subpixel_transposed_convs

# (key, shape) of the official models/wav2lip.py (Rudrabha/Wav2Lip): first and last layers of every part
OFFICIAL_KEYS = {
    "face_encoder_blocks.0.0.conv_block.0.weight": (16, 6, 7, 7),
    "face_encoder_blocks.2.3.conv_block.1.running_var": (64,),
    "face_encoder_blocks.6.1.conv_block.0.weight": (512, 512, 1, 1),
    "audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
    "audio_encoder.9.conv_block.0.weight": (256, 128, 3, 3),
    "audio_encoder.12.conv_block.0.weight": (512, 512, 1, 1),
    "face_decoder_blocks.0.0.conv_block.0.weight": (512, 512, 1, 1),
    "face_decoder_blocks.1.0.conv_block.0.weight": (1024, 512, 3, 3),  # ConvTranspose2d: (in, out, k, k)
    "face_decoder_blocks.3.0.conv_block.0.weight": (768, 384, 3, 3),
    "face_decoder_blocks.6.0.conv_block.0.weight": (160, 64, 3, 3),
    "face_decoder_blocks.6.2.conv_block.1.num_batches_tracked": (),
    "output_block.0.conv_block.0.weight": (32, 80, 3, 3),
    "output_block.1.weight": (3, 32, 1, 1),
}


def test_official_parameter_names_and_shapes():
    sd = Wav2Lip().state_dict()
    for key, shape in OFFICIAL_KEYS.items():
        assert key in sd, key
        assert tuple(sd[key].shape) == shape, key
    assert len(sd) == 352
    assert (
        sum(v.numel() for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
        == 36_298_035
    )
    assert not any(k.startswith("module.") for k in sd)


@pytest.mark.parametrize("batch", [1, 3])
def test_tensor_shapes(w2l_model, real_pairs, batch):
    mels, faces = real_pairs
    with torch.no_grad():
        out = w2l_model(torch.from_numpy(mels[:batch]), torch.from_numpy(faces[:batch]))
    assert out.shape == (batch, 3, 96, 96)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # sigmoid output
    assert float(out.std()) > 0.01  # not a flat image


def test_sequence_input_folds_time_into_batch(w2l_model, real_pairs):
    mels, faces = real_pairs
    m = torch.from_numpy(mels[:4]).reshape(2, 2, 1, 80, 16)  # (B, T, 1, 80, 16)
    f = torch.from_numpy(faces[:4]).reshape(2, 2, 6, 96, 96).permute(0, 2, 1, 3, 4)  # (B, 6, T, 96, 96)
    with torch.no_grad():
        seq = w2l_model(m, f)
        single = w2l_model(m[:, 1], f[:, :, 1])
    assert seq.shape == (2, 3, 2, 96, 96)
    assert torch.allclose(seq[:, :, 1], single, atol=1e-5)


def test_mouth_depends_on_audio(w2l_model, real_pairs):
    mels, faces = real_pairs
    with torch.no_grad():
        a = w2l_model(torch.from_numpy(mels[:2]), torch.from_numpy(faces[:2]))
        b = w2l_model(torch.from_numpy(mels[2:4]), torch.from_numpy(faces[:2]))
    assert float((a - b).abs().max()) > 1e-3


def test_batchnorm_fusion_and_subpixel_rewrite_keep_the_output(w2l_model, real_pairs):
    mels, faces = (torch.from_numpy(x[:4]) for x in real_pairs)
    with torch.no_grad():
        ref = w2l_model(mels, faces)
        fused = fuse_batchnorm(copy.deepcopy(w2l_model))
        out_fused = fused(mels, faces)
        out_sub = subpixel_transposed_convs(fused)(mels, faces)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in fused.modules())
    np.testing.assert_allclose(out_fused.numpy(), ref.numpy(), atol=1e-4)
    np.testing.assert_allclose(out_sub.numpy(), ref.numpy(), atol=1e-4)

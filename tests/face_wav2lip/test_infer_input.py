"""The network input built from face crops: the original inference.py convention, in one pass."""

import numpy as np

from pipelines.face.wav2lip.inference import faces_to_input


def _reference(crops, ref):
    """Wav2Lip's inference.py: BGR / 255, target with rows >= 48 zeroed, then the reference."""
    target = crops[..., ::-1].astype(np.float32).copy()
    target[:, 48:] = 0
    both = np.concatenate([target, ref[..., ::-1].astype(np.float32)], axis=3) / 255.0
    return both.transpose(0, 3, 1, 2)


def test_faces_to_input_matches_the_original_convention():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 96, 96, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (5, 96, 96, 3), dtype=np.uint8)
    for ref in (None, other):
        out = faces_to_input(crops, ref)
        assert out.shape == (5, 6, 96, 96) and out.dtype == np.float32 and out.flags.c_contiguous
        assert np.abs(out - _reference(crops, crops if ref is None else ref)).max() < 1e-6
    assert not faces_to_input(crops)[:, :3, 48:].any() and faces_to_input(crops)[:, :3, :48].any()

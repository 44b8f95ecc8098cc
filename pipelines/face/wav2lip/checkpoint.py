"""Load and save Wav2Lip generator checkpoints in the official format.

The released ``wav2lip.pth`` / ``wav2lip_gan.pth`` are ``torch.save`` dicts
``{"state_dict": ..., "optimizer": ..., "global_step": ..., "global_epoch": ...}``
whose keys carry a ``module.`` prefix (they were trained under DataParallel).
Loading uses ``torch.load(weights_only=True)`` (no pickled code runs) and
checks every key and shape against the architecture before touching the
model, so a wrong file is refused with a message that says what it looks like
and which file is expected.
"""
from __future__ import annotations

import os
from pathlib import Path

from pipelines.atomic_files import atomic_path
from pipelines.safe_load import load_error_line

EXPECTED_FILE = "module/wav2lip/wav2lip_gan.pth (or wav2lip.pth)"
HOW_TO_GET = ("Put the official Wav2Lip generator checkpoint (wav2lip_gan.pth or wav2lip.pth from "
              "Rudrabha/Wav2Lip, non-commercial licence) in module/wav2lip/ and point "
              "face.checkpoint at it")


class CheckpointError(ValueError):
    """A file that is not a usable Wav2Lip generator checkpoint."""


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    """Keys without the DataParallel ``module.`` prefix (others unchanged)."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def read_state_dict(path: str | os.PathLike) -> dict:
    """The generator state dict stored in ``path`` (prefix stripped), without checking it."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: Wav2Lip checkpoint not found. {HOW_TO_GET} "
                              f"(expected e.g. {EXPECTED_FILE}).")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, truncated file, not a torch file
        raise CheckpointError(
            f"{p}: cannot be read as a PyTorch checkpoint with weights_only=True "
            f"({load_error_line(exc)}). "
            f"Expected the official Wav2Lip generator, e.g. {EXPECTED_FILE}.") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        state = obj["state_dict"]
    elif isinstance(obj, dict) and obj and all(hasattr(v, "shape") for v in obj.values()):
        state = obj  # a bare state dict
    else:
        what = f"a dict with keys {sorted(obj)[:6]}" if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{p}: holds {what}, not a state dict "
                              f"(expected {{'state_dict': ...}} as in {EXPECTED_FILE}).")
    return strip_prefix(state)


def _guess(keys: set[str]) -> str:
    """What a foreign state dict probably is, for the error message."""
    if any(k.startswith("binary_pred") for k in keys):
        return " It looks like the Wav2Lip visual-quality discriminator (disc checkpoint), not the generator."
    if any(k.startswith("face_encoder.") for k in keys) and any(k.startswith("audio_encoder.") for k in keys) \
            and not any(k.startswith("face_decoder_blocks") for k in keys):
        return " It looks like the SyncNet lip-sync expert (lipsync_expert.pth), not the generator."
    if any(k.startswith("enc_p.") or k.startswith("dec.") for k in keys):
        return " It looks like a so-vits-svc voice model (G_*.pth), not Wav2Lip."
    return ""


def check_state_dict(state: dict, model, source: str = "checkpoint") -> None:
    """Raise ``CheckpointError`` naming missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    keys = set(state)
    # BatchNorm step counters are not used at inference; very old saves lack them
    missing = sorted(k for k in set(expected) - keys if not k.endswith("num_batches_tracked"))
    unexpected = sorted(keys - set(expected))
    shapes = sorted((k, tuple(state[k].shape), tuple(expected[k].shape)) for k in keys & set(expected)
                    if tuple(state[k].shape) != tuple(expected[k].shape))
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches (e.g. " + ", ".join(
            f"{k}: file {a} vs model {b}" for k, a, b in shapes[:3]) + ")")
    hint = _guess(keys)
    if shapes and not missing and not unexpected:
        hint += " Same layer names but other sizes: a modified Wav2Lip variant (e.g. a 192x192 or HD fork)?"
    raise CheckpointError(
        f"{source}: not an official 96x96 Wav2Lip generator checkpoint: " + "; ".join(parts) + "."
        + hint + f" Expected {EXPECTED_FILE}.")


def load_wav2lip(path: str | os.PathLike, device: str = "cpu"):
    """The generator with the weights of ``path``, in eval mode (BatchNorm not fused)."""
    from pipelines.face.wav2lip.model import Wav2Lip

    state = read_state_dict(path)
    model = Wav2Lip()
    check_state_dict(state, model, source=str(path))
    model.load_state_dict(state, strict=False)  # only num_batches_tracked may be absent
    return model.to(device).eval()


def save_checkpoint(model, path: str | os.PathLike, *, data_parallel_prefix: bool = True,
                    optimizer_state: dict | None = None, global_step: int = 0,
                    global_epoch: int = 0) -> Path:
    """Write ``model`` like the official training script does (atomically: temp file + rename)."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    prefix = "module." if data_parallel_prefix else ""
    state = {prefix + k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "optimizer": optimizer_state, "global_step": global_step,
               "global_epoch": global_epoch}
    with atomic_path(p) as tmp:
        torch.save(payload, tmp)
    return p

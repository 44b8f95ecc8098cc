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
HOW_TO_GET = (
    "Put the official Wav2Lip generator checkpoint (wav2lip_gan.pth or wav2lip.pth from "
    "Rudrabha/Wav2Lip, non-commercial licence) in module/wav2lip/ and point "
    "face.wav2lip.checkpoint at it"
)


class CheckpointError(ValueError):
    """A file that is not a usable Wav2Lip generator checkpoint."""


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    """Keys without the DataParallel ``module.`` prefix (others unchanged)."""
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state.items()}


def sniff(path: str | os.PathLike) -> str:
    """What the file is, from its first bytes: 'zip' (a torch >= 1.6 save), 'legacy torch'
    (an old pickle-based save), 'html', 'git-lfs pointer', 'onnx', 'safetensors', 'empty' or 'unknown'."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head:
        return "empty"
    text = head.lstrip().lower()
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x80") and len(head) > 1 and head[1] in (2, 3, 4, 5):
        return "legacy torch"
    if head.startswith(b"version https://git-lfs"):
        return "git-lfs pointer"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")) or b"<html" in text:
        return "html"
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    if head[:1] == b"\x08" and b"pytorch" in head.lower() or b"onnx" in head[:64].lower():
        return "onnx"
    return "unknown"


_SNIFF_ADVICE = {
    "html": "a web page (HTML), not model weights: the download saved the site's page, e.g. a "
    "'blob' or sign-in page. Download the file itself (the 'raw'/'download' link)",
    "git-lfs pointer": "a git-lfs pointer (a small text file naming the real file), not the weights: "
    "run 'git lfs pull' in that repository or download the file itself",
    "empty": "an empty file (an interrupted download?): download it again",
    "onnx": "an ONNX model: set face.wav2lip.runtime to 'onnx' or 'auto' (the .onnx suffix selects it)",
    "unknown": "not a PyTorch checkpoint (neither a zip nor a legacy torch save)",
}


def read_state_dict(path: str | os.PathLike) -> dict:
    """The generator state dict stored in ``path`` (prefix stripped), without checking it."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: Wav2Lip checkpoint not found. {HOW_TO_GET} (expected e.g. {EXPECTED_FILE}).")
    kind = sniff(p)
    if kind in _SNIFF_ADVICE:
        raise CheckpointError(
            f"{p}: this file is {_SNIFF_ADVICE[kind]}. Expected the official Wav2Lip generator, e.g. {EXPECTED_FILE}."
        )
    if kind == "safetensors":
        from safetensors.torch import load_file

        return strip_prefix(load_file(str(p)))
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, truncated file, not a torch file
        raise CheckpointError(
            f"{p}: a {kind} file that cannot be read as a PyTorch checkpoint with weights_only=True "
            f"({load_error_line(exc)}). "
            f"Expected the official Wav2Lip generator, e.g. {EXPECTED_FILE}."
        ) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        state = obj["state_dict"]
    elif isinstance(obj, dict) and obj and all(hasattr(v, "shape") for v in obj.values()):
        state = obj  # a bare state dict
    else:
        what = f"a dict with keys {sorted(obj)[:6]}" if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{p}: holds {what}, not a state dict (expected {{'state_dict': ...}} as in {EXPECTED_FILE})."
        )
    return strip_prefix(state)


def high_res_fork(state: dict) -> str:
    """'' for the official layout; else a sentence naming the high-resolution fork the shapes suggest.

    The official 96x96 generator has 7 face-encoder blocks, its first convolution
    6 -> 16 channels; forks for 192/288/384 px faces add encoder (and decoder) blocks
    and some start narrower (6 -> 8 in a 384x384 fork).
    """
    blocks = {k.split(".")[1] for k in state if k.startswith("face_encoder_blocks.")}
    first = state.get("face_encoder_blocks.0.0.conv_block.0.weight")
    width = int(first.shape[0]) if first is not None and hasattr(first, "shape") else None
    n = len(blocks)
    if n == 0 or (n == 7 and width in (None, 16)):
        return ""
    extra = n - 7
    size = {1: "192 or 288", 2: "384", 3: "576 or 768"}.get(extra, "a larger")
    return (
        f" Its shapes are those of a high-resolution Wav2Lip fork: {n} face-encoder blocks (the official "
        f"96x96 has 7), first convolution 6->{width} channels (official 6->16), so about {size} px faces "
        f"(e.g. the wav2lip_288x288 / 384x384 forks). This program runs the official 96x96 generator only."
    )


def _guess(keys: set[str]) -> str:
    """What a foreign state dict probably is, for the error message."""
    if any(k.startswith("binary_pred") for k in keys):
        return " It looks like the Wav2Lip visual-quality discriminator (disc checkpoint), not the generator."
    if (
        any(k.startswith("face_encoder.") for k in keys)
        and any(k.startswith("audio_encoder.") for k in keys)
        and not any(k.startswith("face_decoder_blocks") for k in keys)
    ):
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
    shapes = sorted(
        (k, tuple(state[k].shape), tuple(expected[k].shape))
        for k in keys & set(expected)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        parts.append(
            f"{len(shapes)} shape mismatches (e.g. "
            + ", ".join(f"{k}: file {a} vs model {b}" for k, a, b in shapes[:3])
            + ")"
        )
    fork = high_res_fork(state)
    hint = fork or _guess(keys)
    if shapes and not missing and not unexpected and not fork:
        hint += " Same layer names but other sizes: a modified Wav2Lip variant (e.g. a 192x192 or HD fork)?"
    raise CheckpointError(
        f"{source}: not an official 96x96 Wav2Lip generator checkpoint: "
        + "; ".join(parts)
        + "."
        + hint
        + f" Expected {EXPECTED_FILE}."
    )


def load_wav2lip(path: str | os.PathLike, device: str = "cpu"):
    """The generator with the weights of ``path``, in eval mode (BatchNorm not fused)."""
    from pipelines.face.wav2lip.model import Wav2Lip

    state = read_state_dict(path)
    model = Wav2Lip()
    check_state_dict(state, model, source=str(path))
    model.load_state_dict(state, strict=False)  # only num_batches_tracked may be absent
    return model.to(device).eval()


def save_checkpoint(
    model,
    path: str | os.PathLike,
    *,
    data_parallel_prefix: bool = True,
    optimizer_state: dict | None = None,
    global_step: int = 0,
    global_epoch: int = 0,
) -> Path:
    """Write ``model`` like the official training script does (atomically: temp file + rename)."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    prefix = "module." if data_parallel_prefix else ""
    state = {prefix + k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "state_dict": state,
        "optimizer": optimizer_state,
        "global_step": global_step,
        "global_epoch": global_epoch,
    }
    with atomic_path(p) as tmp:
        torch.save(payload, tmp)
    return p

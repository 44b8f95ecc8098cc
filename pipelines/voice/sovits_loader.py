"""Finding, checking and loading a so-vits-svc model folder.

A model folder holds ``config.json`` and one or more generator checkpoints
``G_<step>.pth`` (the newest is used unless one is named), optionally a kmeans
cluster model (``kmeans*.pt``).  DL-B's layout ``module/So-VITS/44k`` works as
is; pointing at ``module/So-VITS`` finds its ``44k`` subfolder too.

Every problem becomes a ``SovitsModelError`` that says which file is wrong and
what to do, instead of the fork's warnings about keys it silently skipped.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..safe_load import load_error_line

LOG = logging.getLogger(__name__)
G_PATTERN = re.compile(r"G_(\d+)\.pth$")
REQUIRED_CONFIG = {
    "data": ("sampling_rate", "hop_length", "filter_length"),
    "train": ("segment_size",),
    "model": ("inter_channels", "hidden_channels", "filter_channels", "n_heads", "n_layers", "kernel_size",
              "resblock", "resblock_kernel_sizes", "resblock_dilation_sizes", "upsample_rates",
              "upsample_initial_channel", "upsample_kernel_sizes", "gin_channels", "ssl_dim", "n_speakers"),
}
#: weights a checkpoint may lack: the F0 predictor (only used with auto-predicted F0)
OPTIONAL_PREFIXES = ("f0_decoder.",)


class SovitsModelError(RuntimeError):
    """The so-vits model folder, config or checkpoint is missing or unusable."""


@dataclass(frozen=True)
class SovitsFiles:
    folder: Path
    config: Path
    checkpoint: Path
    cluster: Path | None = None


def _g_step(p: Path) -> int:
    m = G_PATTERN.search(p.name)
    return int(m.group(1)) if m else -1


def list_checkpoints(folder: Path) -> list[Path]:
    """``G_*.pth`` in ``folder``, oldest step first."""
    return sorted((p for p in folder.glob("G_*.pth") if G_PATTERN.search(p.name)), key=_g_step)


def find_model(folder: str | Path, checkpoint: str = "", cluster: str = "") -> SovitsFiles:
    """The files of a model folder (see module doc); raises ``SovitsModelError``."""
    if not str(folder).strip():
        raise SovitsModelError("voice.sovits_dir is empty: set it to a so-vits model folder holding "
                               "G_*.pth + config.json (e.g. module/So-VITS/44k), or train one with "
                               "'python -m pipelines voice-train --clips DIR --out module/So-VITS/<name>'")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SovitsModelError(f"so-vits model folder not found: {root} (voice.sovits_dir). Put G_*.pth + "
                               "config.json there, or train a voice with 'python -m pipelines voice-train'")
    candidates = [root] + [root / sub for sub in ("44k", "logs/44k") if (root / sub).is_dir()]
    chosen = next((c for c in candidates if list_checkpoints(c) or (checkpoint and (c / checkpoint).is_file())),
                  root)
    if checkpoint:
        ckpt = Path(checkpoint).expanduser()
        ckpt = ckpt if ckpt.is_absolute() else chosen / ckpt
        if not ckpt.is_file():
            have = ", ".join(p.name for p in list_checkpoints(chosen)) or "none"
            raise SovitsModelError(f"checkpoint {ckpt} not found (voice.sovits_checkpoint); "
                                   f"G_*.pth in {chosen}: {have}")
    else:
        ckpts = list_checkpoints(chosen)
        if not ckpts:
            raise SovitsModelError(f"no generator checkpoint G_*.pth in {chosen}. A so-vits model folder holds "
                                   "G_<step>.pth + config.json (DL-B: module/So-VITS/44k); train one with "
                                   "'python -m pipelines voice-train'")
        ckpt = ckpts[-1]
    config = next((c for c in (ckpt.parent / "config.json", root / "config.json", root / "configs" / "config.json")
                   if c.is_file()), None)
    if config is None:
        raise SovitsModelError(f"no config.json next to {ckpt.name} in {ckpt.parent}: copy the config.json the "
                               "model was trained with into that folder")
    cluster_path = None
    if cluster:
        cluster_path = Path(cluster).expanduser()
        if not cluster_path.is_absolute() and not cluster_path.is_file():
            cluster_path = ckpt.parent / cluster
        if not cluster_path.is_file():
            raise SovitsModelError(f"cluster model not found: {cluster} (voice.cluster_model)")
    else:
        found = sorted(ckpt.parent.glob("kmeans*.pt"))
        cluster_path = found[-1] if found else None
    return SovitsFiles(root, config, ckpt, cluster_path)


def read_config(path: Path) -> dict[str, Any]:
    """The model's config.json, checked for the fields inference needs."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SovitsModelError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                               "restore the config.json the model was trained with") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SovitsModelError(f"{path}: cannot read the config ({exc})") from exc
    if not isinstance(data, dict):
        raise SovitsModelError(f"{path}: expected a JSON object with train/data/model/spk sections")
    missing = [f"{sec}.{key}" for sec, keys in REQUIRED_CONFIG.items() for key in keys
               if not isinstance(data.get(sec), dict) or key not in data[sec]]
    if missing:
        raise SovitsModelError(f"{path}: not a so-vits-svc config, missing {', '.join(missing[:6])}"
                               f"{' …' if len(missing) > 6 else ''}")
    spk = data.get("spk")
    if not isinstance(spk, dict) or not spk:
        raise SovitsModelError(f"{path}: the config names no speaker ('spk': {{\"name\": 0}} expected)")
    return data


def load_generator_state(path: Path) -> dict[str, Any]:
    """The generator weights of ``G_*.pth`` (``torch.load(weights_only=True)``)."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SovitsModelError(f"{path}: not a readable checkpoint ({load_error_line(exc)}). "
                               "The file may be truncated (an interrupted copy or download): copy it again "
                               "or pick another with voice.sovits_checkpoint") from exc
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise SovitsModelError(f"{path}: not a so-vits generator checkpoint (no 'model' weights); "
                               "D_*.pth is the discriminator, the generator is G_*.pth")
    return state


def generator_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """The config's model section as ``SynthesizerTrn`` arguments.

    The NSF source must run at the audio rate: the fork takes it from
    ``model.sampling_rate`` (default 44100) while so-vits 4.0 took it from
    ``data.sampling_rate``; the data rate is used when the model section has none.
    Keys the generator does not take (``pretrained``, ``n_layers_q``, ``use_spectral_norm``) are dropped.
    """
    import inspect
    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

    accepted = set(inspect.signature(SynthesizerTrn.__init__).parameters) - {"self", "spec_channels", "segment_size"}
    kw = {k: v for k, v in config["model"].items() if k in accepted}
    kw.setdefault("sampling_rate", int(config["data"]["sampling_rate"]))
    return kw


def build_generator(config: dict[str, Any], state: dict[str, Any], files: SovitsFiles):
    """SynthesizerTrn built from the config, loaded strictly from ``state`` (eval, no weight norm)."""
    import torch
    from . import sovits_compat

    utils = sovits_compat.import_fork()
    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

    data = config["data"]
    try:
        net = SynthesizerTrn(data["filter_length"] // 2 + 1, config["train"]["segment_size"] // data["hop_length"],
                             **generator_kwargs(config))
    except Exception as exc:
        raise SovitsModelError(f"{files.config}: the model section does not build a so-vits generator "
                               f"({type(exc).__name__}: {exc})") from exc
    target = net.state_dict()
    mismatched = [f"{k} {tuple(v.shape)} vs config {tuple(target[k].shape)}" for k, v in state.items()
                  if k in target and tuple(v.shape) != tuple(target[k].shape)]
    if mismatched:
        raise SovitsModelError(f"{files.checkpoint.name} does not match {files.config}: {'; '.join(mismatched[:3])}"
                               f"{' …' if len(mismatched) > 3 else ''}. Use the config.json the model was "
                               "trained with (e.g. ssl_dim 256 for 4.0 legacy models, 768 for 4.0v1)")
    missing = [k for k in target if k not in state and not k.startswith(OPTIONAL_PREFIXES)
               and not k.startswith("emb_uv.")]
    if missing:
        raise SovitsModelError(f"{files.checkpoint.name} lacks weights the config needs: {', '.join(missing[:4])}"
                               f"{' …' if len(missing) > 4 else ''}; was it made by another so-vits version?")
    if "emb_uv.weight" not in state:
        LOG.warning("%s has no voiced/unvoiced embedding (older so-vits 4.0): using zeros", files.checkpoint.name)
        state = {**state, "emb_uv.weight": torch.zeros_like(target["emb_uv.weight"])}
    net.load_state_dict({**target, **{k: v for k, v in state.items() if k in target}})
    net.eval()
    for m in net.modules():
        utils.remove_weight_norm_if_exists(m)
    return net


class ClusterCenters:
    """kmeans centres of one speaker with the two members the fork's cluster code calls."""

    def __init__(self, centers: np.ndarray):
        self.cluster_centers_ = np.asarray(centers, dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        d = (x * x).sum(1, keepdims=True) - 2 * x @ self.cluster_centers_.T + (self.cluster_centers_ ** 2).sum(1)
        return d.argmin(axis=1)


def load_cluster_model(path: Path) -> dict[str, ClusterCenters]:
    """so-vits kmeans file ``{speaker: {"cluster_centers_": array, ...}}`` read with weights_only=True."""
    import torch

    np_core = getattr(np, "_core", None) or np.core
    safe = [(np_core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
            (np_core.multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
            (np_core.multiarray.scalar, "numpy.core.multiarray.scalar"),
            (np_core.multiarray.scalar, "numpy._core.multiarray.scalar"),
            np.ndarray, np.dtype] + [type(np.dtype(t)) for t in ("float32", "float64", "int32", "int64")]
    try:
        with torch.serialization.safe_globals(safe):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SovitsModelError(f"{path}: not a readable so-vits cluster model ({type(exc).__name__}: "
                               f"{str(exc)[:200]})") from exc
    if not isinstance(ckpt, dict) or not ckpt:
        raise SovitsModelError(f"{path}: a cluster model maps speaker names to kmeans centres")
    out = {}
    for spk, entry in ckpt.items():
        centers = entry.get("cluster_centers_") if isinstance(entry, dict) else None
        if centers is None:
            raise SovitsModelError(f"{path}: speaker {spk!r} has no 'cluster_centers_'")
        c = centers.numpy() if torch.is_tensor(centers) else np.asarray(centers)
        if c.ndim != 2:
            raise SovitsModelError(f"{path}: speaker {spk!r}: cluster_centers_ must be 2-D, got {c.shape}")
        out[str(spk)] = ClusterCenters(c)
    return out

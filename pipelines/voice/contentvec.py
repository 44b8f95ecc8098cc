"""The ContentVec content encoder of so-vits-svc, loaded from a local file or folder only.

Two layouts are accepted (``voice.sovits.contentvec_dir`` in the settings):

* a Hugging Face folder such as ``content-vec-best`` (``config.json`` +
  ``model.safetensors`` / ``pytorch_model.bin``), a ``HubertModel`` with the
  extra ``final_proj`` layer that 4.0 "legacy" models (256-dim units) need;
* DL-B's fairseq checkpoint ``checkpoint_best_legacy_500.pt`` (or a folder
  holding it, like DL-B's ``hubert/``), converted here to the same
  ``HubertModel`` without fairseq.  It is unpickled without running any code
  from the file: only tensors and plain containers are rebuilt, every other
  object (fairseq/omegaconf configuration classes) becomes an inert record.

Nothing is ever fetched from a hub; ``sovits_compat`` routes
``so_vits_svc_fork.utils.get_hubert_model`` (which hard-codes a hub id) here.
"""

from __future__ import annotations

import argparse
import codecs
import collections
import os
import pickle
import re
from pathlib import Path
from typing import Any

from ..safe_load import load_error_line

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
FAIRSEQ_NAMES = ("checkpoint_best_legacy_500.pt",)


class ContentVecError(RuntimeError):
    """The ContentVec encoder is missing, unreadable or not a HuBERT/ContentVec model."""


_HINT = (
    "Set voice.sovits.contentvec_dir to a local 'content-vec-best' folder (config.json + model weights) "
    "or to DL-B's hubert/checkpoint_best_legacy_500.pt; nothing is downloaded."
)


def resolve_contentvec(path: str | os.PathLike | None) -> tuple[str, Path]:
    """('hf', folder) or ('fairseq', file) for a configured ContentVec location, or a clear error."""
    if not path or not str(path).strip():
        raise ContentVecError(f"no ContentVec encoder configured. {_HINT}")
    p = Path(path).expanduser()
    if not p.exists():
        raise ContentVecError(f"ContentVec encoder not found: {p}. {_HINT}")
    if p.is_file():
        if p.suffix in (".pt", ".pth", ".ckpt"):
            return "fairseq", p
        if p.name == "config.json":
            return resolve_contentvec(p.parent)
        raise ContentVecError(f"{p}: not a ContentVec checkpoint (expected a fairseq .pt file or a folder). {_HINT}")
    if (p / "config.json").is_file():
        if not any((p / w).is_file() for w in HF_WEIGHT_FILES):
            raise ContentVecError(
                f"{p}: config.json found but no model weights ({' or '.join(HF_WEIGHT_FILES)}). {_HINT}"
            )
        return "hf", p
    for name in FAIRSEQ_NAMES:
        if (p / name).is_file():
            return "fairseq", p / name
    pts = sorted(p.glob("*.pt"))
    if len(pts) == 1:
        return "fairseq", pts[0]
    raise ContentVecError(
        f"{p}: neither a Hugging Face HuBERT folder (config.json) nor a folder with "
        f"checkpoint_best_legacy_500.pt. {_HINT}"
    )


def _model_class():
    from torch import nn
    from transformers import HubertModel

    class HubertModelWithFinalProj(HubertModel):
        """HuBERT + the ``final_proj`` layer (same layout as so-vits-svc-fork's class)."""

        def __init__(self, config):
            super().__init__(config)
            self.final_proj = nn.Linear(config.hidden_size, config.classifier_proj_size)

    return HubertModelWithFinalProj


def load_contentvec(path: str | os.PathLike | None, device: Any = "cpu", final_proj: bool = True):
    """The encoder in eval mode on ``device``.

    ``final_proj``: the so-vits model is a 4.0 "legacy" one (256-dim units from
    layer 9 + final_proj); then the checkpoint must contain ``final_proj``.
    """
    kind, p = resolve_contentvec(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..optional import require

    require("transformers", purpose="the ContentVec encoder of so-vits-svc")
    model = _load_hf(p, final_proj) if kind == "hf" else _load_fairseq(p, final_proj)
    model.eval()
    _remove_weight_norms(model)
    return model.to(device)


# -- Hugging Face folder -------------------------------------------------------
def _load_hf(folder: Path, final_proj: bool):
    import warnings

    from transformers.utils import logging as hf_logging

    cls = _model_class()
    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar nor notices on every start
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, info = cls.from_pretrained(str(folder), local_files_only=True, output_loading_info=True)
    except Exception as exc:  # corrupt weights, wrong architecture, unreadable config
        raise ContentVecError(
            f"{folder}: could not load the ContentVec/HuBERT model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). Is this a content-vec-best folder? "
            f"{_HINT}"
        ) from exc
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
    missing = [k for k in info.get("missing_keys", []) if not k.startswith("masked_spec_embed")]
    if final_proj and any(k.startswith("final_proj") for k in missing):
        raise ContentVecError(
            f"{folder}: this HuBERT has no 'final_proj' layer, which so-vits 4.0 legacy models "
            "(ssl_dim 256) need; use lengyue233's content-vec-best or DL-B's "
            "checkpoint_best_legacy_500.pt"
        )
    other = [k for k in missing if not k.startswith("final_proj")]
    if other:
        raise ContentVecError(
            f"{folder}: weights missing from the checkpoint: {', '.join(other[:5])}{' …' if len(other) > 5 else ''}"
        )
    return model


# -- fairseq checkpoint --------------------------------------------------------
class _Inert:
    """Stands in for any non-tensor class found in a checkpoint; runs none of its code."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._args = args
        self._kwargs = kwargs

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:  # a pickled factory call
        return _Inert(*args, **kwargs)


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("argparse", "Namespace"): argparse.Namespace,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 spells bytes (numpy scalars)
}
# fairseq/omegaconf classes in a fairseq checkpoint (configuration, training meters) become inert records
_INERT_MODULES = ("fairseq.", "omegaconf.")
_NUMPY_NAMES = ("_reconstruct", "scalar", "ndarray", "dtype")


class UnsafeCheckpointError(ContentVecError):
    """The checkpoint names something other than tensors, plain containers and fairseq records."""


def _restricted_pickle_module():
    """A pickle module whose ``find_class`` only knows an allow-list; ``load`` goes through it too.

    Its ``find_class`` is the allow-list ``_read_checkpoint`` resolves a file's names with
    (then loaded by ``torch.load(weights_only=True)``); ``load`` goes through it too, as
    torch's legacy reader calls ``pickle_module.load`` for the file header.
    """
    import numpy as np
    import torch

    allowed = dict(_ALLOWED)
    allowed[("torch._utils", "_rebuild_tensor_v2")] = torch._utils._rebuild_tensor_v2
    allowed[("torch._utils", "_rebuild_parameter")] = torch._utils._rebuild_parameter
    allowed[("torch", "Size")] = torch.Size
    try:
        multiarray = np._core.multiarray
    except AttributeError:  # numpy < 2
        multiarray = np.core.multiarray
    for mod_name in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod_name, "_reconstruct")] = multiarray._reconstruct
        allowed[(mod_name, "scalar")] = multiarray.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    storages = {n for n in dir(torch) if n.endswith("Storage") and isinstance(getattr(torch, n), type)}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) in allowed:
                return allowed[(module, name)]
            if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
                return getattr(torch, name)
            if module == "torch" and name in storages:  # legacy files name their storage classes
                return getattr(torch, name)
            if module.startswith(("numpy.dtypes",)) and name.endswith("DType"):
                return getattr(np.dtypes, name)
            if module.startswith(_INERT_MODULES) or module in ("fairseq", "omegaconf"):
                return type(name, (_Inert,), {"__module__": "pipelines.voice.contentvec.inert"})
            raise UnsafeCheckpointError(
                f"refusing to load: the file asks to run {module}.{name}, which a ContentVec checkpoint "
                "never holds (it may be malicious); use the original checkpoint_best_legacy_500.pt "
                "or a content-vec-best folder"
            )

    class Module:
        pass

    def load(fh, **kwargs):
        return Unpickler(fh, **kwargs).load()

    mod = Module()
    mod.Unpickler = Unpickler
    mod.load = load
    mod.UnpicklingError = pickle.UnpicklingError
    mod.__name__ = "pipelines_restricted_pickle"
    return mod


def _pickle_globals(path: Path) -> set[tuple[str, str]]:
    """The (module, name) pairs a torch file's pickles ask for, read without unpickling anything."""
    import io
    import pickletools
    import zipfile

    def scan(fh, out: set) -> None:
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(fh):
            if op.name == "GLOBAL" or op.name == "INST":
                module, name = str(arg).split(" ", 1)
                out.add((module, name))
            elif op.name == "STACK_GLOBAL":
                if len(strings) < 2:
                    raise pickle.UnpicklingError("STACK_GLOBAL without its names")
                out.add((strings[-2], strings[-1]))
            elif isinstance(arg, str) and ("UNICODE" in op.name or op.name.endswith("STRING")):
                strings.append(str(arg))

    found: set[tuple[str, str]] = set()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.endswith(".pkl"):
                    scan(io.BytesIO(zf.read(info)), found)
        return found
    with open(path, "rb") as fh:  # legacy: magic, protocol, sys_info, the records, the storage keys
        for _ in range(5):
            if not fh.peek(1):
                break
            scan(fh, found)
    return found


def _read_checkpoint(path: Path) -> dict:
    """``torch.load(weights_only=True)``, with the file's fairseq/omegaconf classes as inert records.

    Every name the file's pickles ask for is read first without unpickling; one
    outside the allow-list (tensors, plain containers, numpy arrays, argparse,
    fairseq/omegaconf records) refuses the file before anything is loaded.
    """
    import io

    import torch

    try:
        names = _pickle_globals(path)
    except Exception as exc:
        raise ContentVecError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}). {_HINT}"
        ) from None
    resolver = _restricted_pickle_module().Unpickler(io.BytesIO(b""))
    safe = []
    for module, name in sorted(names):
        try:
            safe.append((resolver.find_class(module, name), f"{module}.{name}"))
        except UnsafeCheckpointError as exc:
            raise UnsafeCheckpointError(f"{path}: {exc}") from None
    import numpy as np

    safe += [t for t in vars(np.dtypes).values() if isinstance(t, type) and issubclass(t, np.dtype)]
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ContentVecError(f"{path}: not a readable checkpoint ({load_error_line(exc)}). {_HINT}") from None


def _cfg_value(ckpt: dict, key: str) -> Any:
    cfg = ckpt.get("cfg")
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict) and key in cfg["model"]:
        return cfg["model"][key]
    args = ckpt.get("args")
    if isinstance(args, argparse.Namespace) and hasattr(args, key):
        return getattr(args, key)
    return None


def fairseq_to_hf_key(key: str) -> str | None:
    """The transformers HubertModel name of a fairseq HuBERT weight (None: not used)."""
    m = re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.(0|2)\.(weight|bias)", key)
    if m:
        i, part, what = m.groups()
        return f"feature_extractor.conv_layers.{i}.{'conv' if part == '0' else 'layer_norm'}.{what}"
    m = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", key)
    if m:
        i, rest = m.groups()
        rest = (
            rest.replace("self_attn_layer_norm", "layer_norm")
            .replace("self_attn.", "attention.")
            .replace("fc1", "feed_forward.intermediate_dense")
            .replace("fc2", "feed_forward.output_dense")
        )
        return f"encoder.layers.{i}.{rest}"
    simple = {
        "layer_norm.weight": "feature_projection.layer_norm.weight",
        "layer_norm.bias": "feature_projection.layer_norm.bias",
        "post_extract_proj.weight": "feature_projection.projection.weight",
        "post_extract_proj.bias": "feature_projection.projection.bias",
        "encoder.layer_norm.weight": "encoder.layer_norm.weight",
        "encoder.layer_norm.bias": "encoder.layer_norm.bias",
        "encoder.pos_conv.0.bias": "encoder.pos_conv_embed.conv.bias",
        "encoder.pos_conv.0.weight_g": "encoder.pos_conv_embed.conv.weight_g",
        "encoder.pos_conv.0.weight_v": "encoder.pos_conv_embed.conv.weight_v",
        "mask_emb": "masked_spec_embed",
        "final_proj.weight": "final_proj.weight",
        "final_proj.bias": "final_proj.bias",
    }
    return simple.get(key)


def _load_fairseq(path: Path, final_proj: bool):
    import torch
    from transformers import HubertConfig

    ckpt = _read_checkpoint(path)
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or "post_extract_proj.weight" not in state:
        raise ContentVecError(
            f"{path}: not a fairseq HuBERT/ContentVec checkpoint (no 'post_extract_proj' weights). {_HINT}"
        )
    if final_proj and "final_proj.weight" not in state:
        raise ContentVecError(f"{path}: the checkpoint has no 'final_proj' layer, which so-vits 4.0 legacy models need")
    try:
        n_conv = 1 + max(
            int(m.group(1))
            for k in state
            if (m := re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.0\.weight", k))
        )
        conv_w = [state[f"feature_extractor.conv_layers.{i}.0.weight"] for i in range(n_conv)]
        n_layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"encoder\.layers\.(\d+)\.", k)))
        hidden = state["post_extract_proj.weight"].shape[0]
        pos_v = state["encoder.pos_conv.0.weight_v"]
    except (KeyError, ValueError) as exc:
        raise ContentVecError(f"{path}: incomplete HuBERT checkpoint ({exc}). {_HINT}") from exc
    kernels = tuple(int(w.shape[-1]) for w in conv_w)
    standard = ((10, 5),) + ((3, 2),) * 4 + ((2, 2),) * 2
    strides = tuple(s for _, s in standard) if len(conv_w) == 7 else tuple(k // 2 or 1 for k in kernels)
    group_norm_only = "feature_extractor.conv_layers.1.2.weight" not in state
    heads = _cfg_value(ckpt, "encoder_attention_heads") or max(1, hidden // 64)
    config = HubertConfig(
        hidden_size=hidden,
        num_hidden_layers=n_layers,
        num_attention_heads=int(heads),
        intermediate_size=state["encoder.layers.0.fc1.weight"].shape[0],
        conv_dim=tuple(int(w.shape[0]) for w in conv_w),
        conv_kernel=kernels,
        conv_stride=strides,
        conv_bias="feature_extractor.conv_layers.0.0.bias" in state,
        feat_extract_norm="group" if group_norm_only else "layer",
        do_stable_layer_norm=bool(_cfg_value(ckpt, "layer_norm_first") or False),
        num_conv_pos_embeddings=int(pos_v.shape[-1]),
        num_conv_pos_embedding_groups=int(hidden // pos_v.shape[1]),
        classifier_proj_size=int(state["final_proj.weight"].shape[0]) if "final_proj.weight" in state else 256,
    )
    model = _model_class()(config)
    target = model.state_dict()
    mapped: dict[str, Any] = {}
    for key, value in state.items():
        name = fairseq_to_hf_key(key)
        if name is None or not torch.is_tensor(value):
            continue
        if name.endswith(".weight_g") and name not in target:
            name = name.replace("conv.weight_g", "conv.parametrizations.weight.original0")
        if name.endswith(".weight_v") and name not in target:
            name = name.replace("conv.weight_v", "conv.parametrizations.weight.original1")
        if name in target:
            if tuple(target[name].shape) != tuple(value.shape):
                raise ContentVecError(
                    f"{path}: weight {key} has shape {tuple(value.shape)}, expected {tuple(target[name].shape)}"
                )
            mapped[name] = value.float()
    missing = [
        k
        for k in target
        if k not in mapped
        and not k.startswith("masked_spec_embed")
        and not (k.startswith("final_proj") and not final_proj)
    ]
    if missing:
        raise ContentVecError(
            f"{path}: weights missing from the checkpoint: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"
        )
    model.load_state_dict(mapped, strict=False)
    return model


def _remove_weight_norms(model) -> None:
    """Fold weight normalisation into plain weights (inference only; a little faster)."""
    from torch import nn
    from torch.nn.utils import parametrize

    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)


def trim_to_layer(model, layer: int):
    """Drop the transformer layers after ``layer``: the units of ``content_units(model, ·, layer)``
    stay the same (HuBERT-base is post-LN, with no norm after the last layer), and 4.0's
    ``vec256l9`` skips three of twelve layers.  Returns the model."""
    layers = model.encoder.layers
    keep = max(1, min(int(layer), len(layers)))
    if keep < len(layers) and not getattr(model.config, "do_stable_layer_norm", False):
        model.encoder.layers = layers[:keep]
        model.config.num_hidden_layers = keep
    return model


def content_units(model, wav16k, layer: int, final_proj: bool):
    """so-vits-svc's content features (1, D, frames) of 16 kHz audio (1, N).

    As fairseq's ``extract_features(output_layer=layer)``: the output of transformer layer
    ``layer`` (the last one when the encoder has fewer), then ``final_proj`` for the 256-dim units
    (``vec256l9``, 4.0 legacy); ``vec768l12`` uses layer 12 as it is.
    """
    import torch

    with torch.no_grad():
        hidden = model(wav16k, output_hidden_states=True)["hidden_states"]
        c = hidden[min(int(layer), len(hidden) - 1)]
        if final_proj:
            c = model.final_proj(c)
    return c.transpose(1, 2)


def content_dim(model, final_proj: bool) -> int:
    """Size of the units ``content_units`` gives."""
    return int(model.final_proj.out_features if final_proj else model.config.hidden_size)

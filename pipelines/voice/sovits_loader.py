"""Finding, checking and loading a so-vits-svc model folder.

A model folder holds ``config.json`` and one or more generator checkpoints
``G_<step>.pth`` (the newest is used unless one is named; without any, a release
file from ``compress_model.py`` such as ``G_0_release_half.pth``), optionally a
kmeans cluster model (``kmeans*.pt``).  ``voice.sovits.checkpoint`` may name any
``.pth``.  DL-B's layout ``module/So-VITS/44k`` works as is; pointing at
``module/So-VITS`` finds its ``44k`` subfolder too.

Configs of so-vits-svc 4.0, 4.1 (``speech_encoder`` vec768l12 / vec256l9,
``vol_embedding``, ``vocoder_name`` nsf-hifigan / nsf-snake-hifigan) and
so-vits-svc-fork are read.  Every problem becomes a one-line ``SovitsModelError``
that says which file is wrong and what to do: other model families by name
(4.0-v2, 3.0, RVC, discriminators, diffusion models), unsupported options by
name, and any checkpoint weight the model would not use (nothing is dropped).
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
RELEASE_PATTERN = re.compile(r"G_(\d+)_release(?:_half)?\.pth$")
REQUIRED_CONFIG = {
    "data": ("sampling_rate", "hop_length", "filter_length"),
    "train": ("segment_size",),
    "model": (
        "inter_channels",
        "hidden_channels",
        "filter_channels",
        "n_heads",
        "n_layers",
        "kernel_size",
        "resblock",
        "resblock_kernel_sizes",
        "resblock_dilation_sizes",
        "upsample_rates",
        "upsample_initial_channel",
        "upsample_kernel_sizes",
        "gin_channels",
        "ssl_dim",
        "n_speakers",
    ),
}


class SovitsModelError(RuntimeError):
    """The so-vits model folder, config or checkpoint is missing or unusable."""


@dataclass(frozen=True)
class SovitsFiles:
    folder: Path
    config: Path
    checkpoint: Path
    cluster: Path | None = None


def _g_step(p: Path) -> int:
    m = G_PATTERN.search(p.name) or RELEASE_PATTERN.search(p.name)
    return int(m.group(1)) if m else -1


def list_checkpoints(folder: Path) -> list[Path]:
    """Generator checkpoints in ``folder``, the one to use last: ``G_<step>.pth`` by step, or, when there is
    none, release files as ``compress_model.py`` names them (``G_<step>_release[_half].pth``,
    ``<name>_release[_half].pth``)."""
    full = sorted((p for p in folder.glob("G_*.pth") if G_PATTERN.search(p.name)), key=_g_step)
    if full:
        return full
    release = [p for p in folder.glob("*.pth") if "_release" in p.stem and not p.name.startswith("D_")]
    return sorted(release, key=lambda p: (_g_step(p), "_half" not in p.stem, p.name))


def find_model(folder: str | Path, checkpoint: str = "", cluster: str = "") -> SovitsFiles:
    """The files of a model folder (see module doc); raises ``SovitsModelError``."""
    if not str(folder).strip():
        raise SovitsModelError(
            "voice.sovits.model_dir is empty: set it to a so-vits model folder holding "
            "G_*.pth + config.json (e.g. module/So-VITS/44k), or train one with "
            "'python -m pipelines voice-train --clips DIR --out module/So-VITS/<name>'"
        )
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SovitsModelError(
            f"so-vits model folder not found: {root} (voice.sovits.model_dir). Put G_*.pth + "
            "config.json there, or train a voice with 'python -m pipelines voice-train'"
        )
    candidates = [root] + [root / sub for sub in ("44k", "logs/44k") if (root / sub).is_dir()]
    chosen = next((c for c in candidates if list_checkpoints(c) or (checkpoint and (c / checkpoint).is_file())), root)
    if checkpoint:
        ckpt = Path(checkpoint).expanduser()
        ckpt = ckpt if ckpt.is_absolute() else chosen / ckpt
        if not ckpt.is_file():
            have = ", ".join(p.name for p in list_checkpoints(chosen)) or "none"
            raise SovitsModelError(
                f"checkpoint {ckpt} not found (voice.sovits.checkpoint); G_*.pth in {chosen}: {have}"
            )
    else:
        ckpts = list_checkpoints(chosen)
        if not ckpts:
            raise SovitsModelError(
                f"no generator checkpoint G_*.pth in {chosen}. A so-vits model folder holds "
                "G_<step>.pth + config.json (DL-B: module/So-VITS/44k); train one with "
                "'python -m pipelines voice-train'"
            )
        ckpt = ckpts[-1]
    config = next(
        (
            c
            for c in (ckpt.parent / "config.json", root / "config.json", root / "configs" / "config.json")
            if c.is_file()
        ),
        None,
    )
    if config is None:
        raise SovitsModelError(
            f"no config.json next to {ckpt.name} in {ckpt.parent}: copy the config.json the "
            "model was trained with into that folder"
        )
    cluster_path = None
    if cluster:
        cluster_path = Path(cluster).expanduser()
        if not cluster_path.is_absolute() and not cluster_path.is_file():
            cluster_path = ckpt.parent / cluster
        if not cluster_path.is_file():
            raise SovitsModelError(f"cluster model not found: {cluster} (voice.sovits.cluster_model)")
    else:
        found = sorted(ckpt.parent.glob("kmeans*.pt"))
        cluster_path = found[-1] if found else None
    return SovitsFiles(root, config, ckpt, cluster_path)


def read_config(path: Path) -> dict[str, Any]:
    """The model's config.json, checked for the fields inference needs."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SovitsModelError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "restore the config.json the model was trained with"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SovitsModelError(f"{path}: cannot read the config ({exc})") from exc
    if not isinstance(data, dict):
        raise SovitsModelError(f"{path}: expected a JSON object with train/data/model/spk sections")
    missing = [
        f"{sec}.{key}"
        for sec, keys in REQUIRED_CONFIG.items()
        for key in keys
        if not isinstance(data.get(sec), dict) or key not in data[sec]
    ]
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    if "n_harmonic" in model or "n_bands" in model:
        raise SovitsModelError(
            f"{path}: a so-vits-svc 4.0-v2 (VISinger2) config, which this backend does not "
            "support; use a 4.0 or 4.1 model"
        )
    if missing:
        raise SovitsModelError(
            f"{path}: not a so-vits-svc config, missing {', '.join(missing[:6])}{' …' if len(missing) > 6 else ''}"
        )
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
        raise SovitsModelError(
            f"{path}: not a readable checkpoint ({load_error_line(exc)}). "
            "The file may be truncated (an interrupted copy or download): copy it again "
            "or pick another with voice.sovits.checkpoint"
        ) from exc
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise SovitsModelError(
            f"{path}: not a so-vits generator checkpoint (no 'model' weights); "
            "D_*.pth is the discriminator, the generator is G_*.pth"
        )
    return state


@dataclass(frozen=True)
class ModelSpec:
    """What a config + checkpoint need at inference (see ``model_spec``)."""

    family: str  # "4.0", "4.1" or "fork" (so-vits-svc-fork / this project's voice-train)
    speech_encoder: str  # vec768l12 / vec256l9
    content_layer: int  # ContentVec transformer layer whose output is used
    final_proj: bool  # through ContentVec's final_proj (256-dim units)
    interpolate: str  # unit_interpolate_mode ("left", "nearest", or "fork")
    vol_embedding: bool
    vocoder: str
    auto_f0: bool  # the checkpoint has the F0 predictor
    with_enc_q: bool


SPEECH_ENCODERS = {"vec768l12": (12, False), "vec256l9": (9, True)}
UNSUPPORTED_MODEL_OPTIONS = {
    "use_depthwise_conv": "depthwise-separable convolutions",
    "flow_share_parameter": "a flow with shared parameters",
    "use_transformer_flow": "the transformer flow",
}


def _foreign_family(state: dict[str, Any]) -> str | None:
    """A name for checkpoints of other model families, recognised by their weight names."""
    keys = list(state)
    has = lambda prefix: any(k.startswith(prefix) for k in keys)
    if has("discriminators."):
        return "a so-vits-svc discriminator (D_*.pth); use the generator G_*.pth next to it"
    if has("dec_harm.") or has("dec_noise.") or has("mel_enc."):
        return "a so-vits-svc 4.0-v2 (VISinger2) model, which this backend does not support; use a 4.0 or 4.1 model"
    if has("enc_p.emb_phone."):
        return "an RVC model, not so-vits-svc; use a so-vits-svc 4.0/4.1 G_*.pth"
    if has("enc_p.bert_proj.") or has("ssl_proj.") or has("quantizer."):
        return "a (GPT-/Bert-)VITS TTS model, not so-vits-svc"
    if has("unit_embed.") or has("decoder.denoise_fn.") or has("diff_model."):
        return (
            "a shallow-diffusion model (diffusion/model_*.pt); shallow diffusion is not supported: "
            "point voice.sovits.checkpoint at the G_*.pth"
        )
    if has("enc_p_."):
        return "a so-vits-svc 3.0 model, which this backend does not support; use a 4.0 or 4.1 model"
    return None


def config_problem(config: dict[str, Any]) -> str | None:
    """A one-line reason the config cannot be used (None: usable)."""
    model, data = config["model"], config["data"]
    if model.get("n_harmonic") is not None or model.get("n_bands") is not None:
        return "a so-vits-svc 4.0-v2 (VISinger2) config, which this backend does not support"
    for key, what in UNSUPPORTED_MODEL_OPTIONS.items():
        if model.get(key):
            return f"model.{key} is on ({what}), which this backend does not support"
    enc = model.get("speech_encoder")
    if enc is not None and enc not in SPEECH_ENCODERS:
        return (
            f"model.speech_encoder {enc!r} is not supported (its encoder weights are not ContentVec); "
            f"supported: {', '.join(SPEECH_ENCODERS)}"
        )
    vocoder = model.get("vocoder_name", "nsf-hifigan")
    from .sovits_models import SUPPORTED_VOCODERS

    if vocoder not in SUPPORTED_VOCODERS:
        return f"model.vocoder_name {vocoder!r} is not supported; supported: {', '.join(SUPPORTED_VOCODERS)}"
    if model.get("type_", "hifi-gan") != "hifi-gan":
        return f"model.type_ {model['type_']!r} (an iSTFT decoder of so-vits-svc-fork) is not supported; use hifi-gan"
    hop, rates = int(data["hop_length"]), [int(r) for r in model["upsample_rates"]]
    if int(np.prod(rates)) != hop:
        return (
            f"upsample_rates {rates} multiply to {int(np.prod(rates))} but data.hop_length is {hop}: "
            "the config contradicts itself; restore the config the model was trained with"
        )
    msr = model.get("sampling_rate")
    if msr is not None and int(msr) != int(data["sampling_rate"]):
        return (
            f"model.sampling_rate {msr} contradicts data.sampling_rate {data['sampling_rate']}; "
            "restore the config the model was trained with"
        )
    return None


def check_compatible(config: dict[str, Any], state: dict[str, Any], files: SovitsFiles) -> None:
    """Raise a one-line ``SovitsModelError`` for another model family or an unsupported option."""
    foreign = _foreign_family(state)
    if foreign:
        raise SovitsModelError(f"{files.checkpoint.name} is {foreign}")
    problem = config_problem(config)
    if problem:
        raise SovitsModelError(f"{files.config}: {problem}")


def model_spec(config: dict[str, Any], state: dict[str, Any]) -> ModelSpec:
    model, data = config["model"], config["data"]
    ssl_dim = int(model["ssl_dim"])
    if "speech_encoder" in model:
        family = "4.1"
        enc = model["speech_encoder"]
    elif "type_" in model or "contentvec_final_proj" in data:
        family = "fork"
        enc = "vec256l9" if data.get("contentvec_final_proj", True) else "vec768l12"
    else:
        family = "4.0"  # 4.0 took layer 9 through final_proj (256); a few 4.0 variants used 768-dim units
        enc = "vec768l12" if ssl_dim == 768 else "vec256l9"
    layer, proj = SPEECH_ENCODERS[enc]
    if family == "fork":
        interpolate = "fork"
    else:
        interpolate = data.get("unit_interpolate_mode") or "left"
    return ModelSpec(
        family=family,
        speech_encoder=enc,
        content_layer=layer,
        final_proj=proj,
        interpolate=interpolate,
        vol_embedding=bool(model.get("vol_embedding", False)),
        vocoder=model.get("vocoder_name", "nsf-hifigan"),
        auto_f0=any(k.startswith("f0_decoder.") for k in state),
        with_enc_q=any(k.startswith("enc_q.") for k in state),
    )


def generator_kwargs(config: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """The config's model section as ``sovits_models.SynthesizerTrn`` arguments.

    The NSF source runs at the audio rate, ``data.sampling_rate`` (4.1 passes it
    from the data section too; the fork's ``model.sampling_rate`` must agree).
    """
    import inspect

    from .sovits_models import SynthesizerTrn

    m = config["model"]
    accepted = set(inspect.signature(SynthesizerTrn.__init__).parameters) - {"self", "spec_channels", "segment_size"}
    kw = {k: v for k, v in m.items() if k in accepted}
    kw["sampling_rate"] = int(config["data"]["sampling_rate"])
    kw["use_automatic_f0_prediction"] = bool(m.get("use_automatic_f0_prediction", True)) and spec.auto_f0
    kw["with_enc_q"] = spec.with_enc_q
    return kw


def fork_generator_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """The config's model section as so-vits-svc-fork ``SynthesizerTrn`` arguments (voice-train)."""
    import inspect

    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

    accepted = set(inspect.signature(SynthesizerTrn.__init__).parameters) - {"self", "spec_channels", "segment_size"}
    kw = {k: v for k, v in config["model"].items() if k in accepted}
    kw.setdefault("sampling_rate", int(config["data"]["sampling_rate"]))
    return kw


def _shape_hint(config: dict[str, Any], state: dict[str, Any], target: dict[str, Any]) -> str:
    """What the vocoder's shapes say about the rate/hop the checkpoint was trained for."""

    def stages(d):
        return len({k.split(".")[2] for k in d if k.startswith("dec.ups.")})

    data, rates = config["data"], config["model"]["upsample_rates"]
    if stages(state) and stages(state) != stages(target):
        return (
            f" The vocoder has {stages(state)} upsampling stages, the config's upsample_rates {rates} have "
            f"{stages(target)} (data.sampling_rate {data['sampling_rate']}, hop_length {data['hop_length']}): "
            "the config is not the one this model was trained with."
        )
    key = "dec.noise_convs.0.weight"
    if key in state and key in target and state[key].shape[-1] != target[key].shape[-1]:
        rates = config["model"]["upsample_rates"]
        return (
            f" The vocoder was trained to upsample x{state[key].shape[-1] // 2} after its first stage, the "
            f"config says x{int(np.prod(rates[1:]))} (upsample_rates {rates}, data.sampling_rate "
            f"{config['data']['sampling_rate']}, hop_length {config['data']['hop_length']}): the config is not "
            "the one this model was trained with."
        )
    return ""


def build_generator(config: dict[str, Any], state: dict[str, Any], files: SovitsFiles, spec: ModelSpec | None = None):
    """SynthesizerTrn built from the config, loaded strictly from ``state`` (eval, no weight norm, float32).

    Every checkpoint weight must be used by the model, and every model weight must be in the
    checkpoint, except ``enc_q`` (training only) and ``emb_uv`` (older 4.0: zeros)."""
    import torch

    from . import sovits_compat

    utils = sovits_compat.import_fork()
    from .sovits_models import SynthesizerTrn

    check_compatible(config, state, files)
    spec = spec or model_spec(config, state)
    data = config["data"]
    try:
        with _quiet():
            net = SynthesizerTrn(
                data["filter_length"] // 2 + 1,
                config["train"]["segment_size"] // data["hop_length"],
                **generator_kwargs(config, spec),
            )
    except Exception as exc:
        raise SovitsModelError(
            f"{files.config}: the model section does not build a so-vits generator ({type(exc).__name__}: {exc})"
        ) from exc
    target = net.state_dict()
    unused = [k for k in state if k not in target]
    if unused:
        hint = ""
        if any(k.startswith("emb_vol.") for k in unused):
            hint = " (emb_vol: the model was trained with model.vol_embedding true)"
        elif any(".activations." in k or k.startswith("dec.snake") for k in unused):
            hint = ' (snake activations: the model was trained with model.vocoder_name "nsf-snake-hifigan")'
        elif any(k.startswith("f0_decoder.") for k in unused):
            hint = " (f0_decoder: model.use_automatic_f0_prediction is false in the config)"
        raise SovitsModelError(
            f"{files.checkpoint.name} has weights the config's model does not use: "
            f"{', '.join(unused[:4])}{' …' if len(unused) > 4 else ''}{hint}.{_shape_hint(config, state, target)}"
            " Use the config.json the model was trained with"
        )
    mismatched = [
        f"{k} {tuple(v.shape)} vs config {tuple(target[k].shape)}"
        for k, v in state.items()
        if tuple(v.shape) != tuple(target[k].shape)
    ]
    if mismatched:
        raise SovitsModelError(
            f"{files.checkpoint.name} does not match {files.config}: {'; '.join(mismatched[:3])}"
            f"{' …' if len(mismatched) > 3 else ''}.{_shape_hint(config, state, target)} Use the "
            "config.json the model was trained with (ssl_dim 256 for vec256l9 / 4.0 legacy "
            "models, 768 for vec768l12)"
        )
    missing = [k for k in target if k not in state and not k.startswith("emb_uv.")]
    if missing:
        hint = ""
        if any(k.startswith("emb_vol.") for k in missing):
            hint = " (emb_vol: the config has model.vol_embedding true but the model was trained without it)"
        elif any(".activations." in k or k.startswith("dec.snake") for k in missing):
            hint = " (snake activations: the config says nsf-snake-hifigan but the model has the plain vocoder)"
        raise SovitsModelError(
            f"{files.checkpoint.name} lacks weights the config needs: {', '.join(missing[:4])}"
            f"{' …' if len(missing) > 4 else ''}{hint}.{_shape_hint(config, state, target)}"
        )
    if "emb_uv.weight" not in state:
        LOG.warning("%s has no voiced/unvoiced embedding (older so-vits 4.0): using zeros", files.checkpoint.name)
        state = {**state, "emb_uv.weight": torch.zeros_like(target["emb_uv.weight"])}
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    net.float().eval()
    with _quiet():
        for m in net.modules():
            utils.remove_weight_norm_if_exists(m)
    return net


def _quiet():
    """Library warnings (deprecated weight_norm, the fork's notices) silenced while a model is built."""
    import contextlib
    import warnings

    @contextlib.contextmanager
    def block():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield

    return block()


class ClusterCenters:
    """kmeans centres of one speaker with the two members the fork's cluster code calls."""

    def __init__(self, centers: np.ndarray):
        self.cluster_centers_ = np.asarray(centers, dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        d = (x * x).sum(1, keepdims=True) - 2 * x @ self.cluster_centers_.T + (self.cluster_centers_**2).sum(1)
        return d.argmin(axis=1)


def load_cluster_model(path: Path) -> dict[str, ClusterCenters]:
    """so-vits kmeans file ``{speaker: {"cluster_centers_": array, ...}}`` read with weights_only=True."""
    import torch

    np_core = getattr(np, "_core", None) or np.core
    safe = [
        (np_core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        (np_core.multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
        (np_core.multiarray.scalar, "numpy.core.multiarray.scalar"),
        (np_core.multiarray.scalar, "numpy._core.multiarray.scalar"),
        np.ndarray,
        np.dtype,
    ] + [type(np.dtype(t)) for t in ("float32", "float64", "int32", "int64")]
    try:
        with torch.serialization.safe_globals(safe):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SovitsModelError(
            f"{path}: not a readable so-vits cluster model ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
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

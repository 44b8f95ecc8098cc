"""Load a local language-model folder (and the persona's P-tuning) for the ``chatglm`` backend.

Folders that work:

- transformers-native GLM folders (``GlmForCausalLM``, ``Glm4ForCausalLM``) and,
  in general, any ``AutoModelForCausalLM`` folder with a chat template;
- original THUDM ChatGLM-6B / ChatGLM2 / ChatGLM3 folders (DL-B's
  ``module/chatglm-6b``): recognised by ``config.json`` and loaded by our own
  code (``pipelines/dialogue/glm/``), never by the folder's Python;
- other folders that bring their own modeling code: only when
  ``dialogue.chatglm.trust_remote_code`` is on, because that runs the folder's Python.

Nothing is downloaded: ``HF_HUB_OFFLINE=1`` and ``local_files_only``.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..optional import require
from . import ptuning_checkpoint as pt
from .prompt_format import detect_format

log = logging.getLogger(__name__)

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class ModelLoadError(RuntimeError):
    """A model folder that cannot be loaded, with what to do about it."""


@dataclass
class LoadedModel:
    model: Any  # ready for ``generate`` (a peft wrapper when P-tuned)
    tokenizer: Any
    folder: Path
    config: dict  # the folder's config.json
    remote_code: bool
    device: str
    dtype: Any
    prompt_format: str
    adapter: pt.AdapterSource | None = None
    pre_seq_len: int = 0
    quantized: bool = False
    stop_ids: list[int] = field(default_factory=list)
    generation: str = ""  # chatglm6b / chatglm2 / chatglm3 for THUDM folders loaded natively
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [self.folder.name, str(self.dtype).replace("torch.", ""), self.device]
        if self.quantized:
            parts.append("int8")
        if self.adapter:
            parts.append(
                f"{self.adapter.kind} P-tuning {self.adapter.path.name}"
                + (f" (pre_seq_len {self.pre_seq_len})" if self.pre_seq_len else "")
            )
        return ", ".join(parts)


def _transformers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    tf = require("transformers", purpose="the chatglm dialogue backend")
    tf.utils.logging.disable_progress_bar()
    tf.utils.logging.set_verbosity_error()
    return tf


def read_model_config(folder: Path) -> dict:
    if not str(folder) or not folder.is_dir():
        raise ModelLoadError(
            f"model folder {folder} not found: set dialogue.chatglm.model_dir to a local model folder "
            f"(e.g. module/chatglm-6b); models are never downloaded"
        )
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelLoadError(
            f"{folder} is not a model folder (no config.json); point dialogue.chatglm.model_dir at the "
            f"folder holding config.json, the weights and the tokenizer"
        )
    from ..json_files import read_json_object

    return read_json_object(
        cfg_path, ModelLoadError, example="the config.json that came with the model; copy it again if it was damaged"
    )


def needs_remote_code(config: dict) -> bool:
    """True for folders whose model class lives in the folder's own Python files."""
    if not config.get("auto_map"):
        return False
    tf = _transformers()
    return config.get("model_type") not in tf.models.auto.configuration_auto.CONFIG_MAPPING


def resolve_dtype(name: str, device: str):
    torch = require("torch", purpose="the chatglm dialogue backend")
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if name not in DTYPES:
        raise ModelLoadError(f"dialogue.chatglm.dtype must be one of auto, {', '.join(DTYPES)}, got {name!r}")
    if name == "fp16" and not device.startswith("cuda"):
        raise ModelLoadError(
            "dialogue.chatglm.dtype fp16 is for GPUs; on the CPU use fp32 (fastest here) or bf16 (half the memory)"
        )
    return getattr(torch, DTYPES[name])


def set_threads(threads: int) -> None:
    if threads and threads > 0:
        torch = require("torch", purpose="the chatglm dialogue backend")
        torch.set_num_threads(threads)


def load_tokenizer(folder: Path, trust_remote_code: bool):
    tf = _transformers()
    try:
        return tf.AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"{folder}: cannot load the tokenizer: {exc}") from exc


def load_base(
    folder: Path,
    *,
    device: str = "cpu",
    dtype: Any = None,
    trust_remote_code: bool = False,
    config_overrides: dict | None = None,
):
    """(model, tokenizer, config.json dict, remote_code) for a local folder."""
    tf = _transformers()
    config = read_model_config(folder)
    remote = needs_remote_code(config)
    if remote and not trust_remote_code:
        auto_map = ", ".join(sorted(config.get("auto_map", {})))
        raise ModelLoadError(
            f"{folder} brings its own modeling code (config.json auto_map: {auto_map}); this is how THUDM "
            f"ChatGLM folders work. Switch on dialogue.chatglm.trust_remote_code to load it, which runs that folder's "
            f"Python code: only do this for folders you trust."
        )
    if remote:
        warnings.warn(
            f"running the modeling code inside {folder} (dialogue.chatglm.trust_remote_code is on)", stacklevel=2
        )
        log.warning("running the modeling code inside %s (dialogue.chatglm.trust_remote_code is on)", folder)
    tokenizer = load_tokenizer(folder, remote)
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        if remote:
            hf_config = tf.AutoConfig.from_pretrained(str(folder), trust_remote_code=True, local_files_only=True)
            for key, value in (config_overrides or {}).items():
                setattr(hf_config, key, value)
            auto = config.get("auto_map", {})
            cls = tf.AutoModelForCausalLM if "AutoModelForCausalLM" in auto else tf.AutoModel
            model = cls.from_pretrained(str(folder), config=hf_config, trust_remote_code=True, **kwargs)
        else:
            model = tf.AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:
        from ..safe_load import weights_problem

        raise ModelLoadError(f"{folder}: cannot load the model: {weights_problem(exc, 'the model folder')}") from exc
    model.to(device)
    return model, tokenizer, config, remote


def _expected_pre_seq_len(settings_value: int, config: dict) -> tuple[int | None, str]:
    if settings_value:
        return settings_value, "the settings (dialogue.chatglm.pre_seq_len)"
    if config.get("pre_seq_len"):
        return int(config["pre_seq_len"]), "the model's config.json"
    return None, ""


def quantize_int8(model):
    """Dynamic int8 quantisation of the Linear layers (CPU); prefix encoders stay float32."""
    torch = require("torch", purpose="int8 quantisation")
    names = {
        name: torch.ao.quantization.default_dynamic_qconfig
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Linear) and "prefix_encoder" not in name and "prompt_encoder" not in name
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8)


def load_thudm_native(
    ds, model_dir: Path, config: dict, gen: str, ptuning_dir: Path | None, device: str, dtype
) -> LoadedModel:
    """A THUDM ChatGLM folder through our own code (``pipelines.dialogue.glm``); its Python never runs.

    ``dialogue.chatglm.quantize_int8``: the layers' Linear weights become int8 one by one while loading.
    """
    torch = require("torch", purpose="the chatglm dialogue backend")
    from .glm import folder as glm_folder

    q8 = bool(ds.quantize_int8)
    if q8 and (device != "cpu" or dtype != torch.float32):
        raise ModelLoadError(
            "dialogue.chatglm.quantize_int8 works on the CPU with dtype fp32 (int8 weights, fp32 "
            "activations); set dialogue.chatglm.dtype to fp32 or auto, or switch quantize_int8 off"
        )
    try:
        tokenizer = glm_folder.load_tokenizer(model_dir, gen, config)
    except glm_folder.FolderError as exc:
        raise ModelLoadError(str(exc)) from exc
    adapter = pt.locate(ptuning_dir) if ptuning_dir else None
    expected, where = _expected_pre_seq_len(ds.pre_seq_len, config)
    ckpt = pt.read_thudm(adapter.path) if adapter is not None and adapter.kind == "thudm" else None
    if ckpt is not None:
        pt.check_pre_seq_len(ckpt, expected, where)
    try:
        if gen == "chatglm6b":
            model = glm_folder.load_chatglm6b(
                model_dir,
                config,
                dtype,
                pre_seq_len=ckpt.pre_seq_len if ckpt else 0,
                prefix_projection=bool(ckpt and ckpt.projection),
                quantize_int8=q8,
            )
            if ckpt is not None:
                pt.apply_prefix_to_glm6b(model, ckpt)
        else:
            model = glm_folder.load_chatglm2(model_dir, config, dtype, quantize_int8=q8)
            if ckpt is not None:
                model = pt.apply_prefix_to_peft(model, ckpt)
            elif adapter is not None:
                model = pt.load_peft_adapter(model, adapter.path)
            if adapter is not None:  # THUDM numbering: positions start at 0 after the prefix
                glm_folder.positions_from_zero(model, model.peft_config["default"].num_virtual_tokens)
    except glm_folder.FolderError as exc:
        raise ModelLoadError(f"{model_dir}: {exc}") from exc
    model.to(device)
    model.eval()
    stops = [tokenizer.eos_token_id]
    if gen == "chatglm3":
        stops += [tokenizer.get_command("<|user|>"), tokenizer.get_command("<|observation|>")]
    fmt = {"chatglm6b": "chatglm", "chatglm2": "chatglm2", "chatglm3": "chatglm3"}[gen]
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        folder=model_dir,
        config=config,
        remote_code=False,
        device=device,
        dtype=dtype,
        prompt_format=fmt,
        adapter=adapter,
        pre_seq_len=ckpt.pre_seq_len if ckpt else 0,
        stop_ids=stops,
        generation=gen,
        quantized=q8,
    )


def load_for_chat(
    dialogue_settings, model_dir: Path, ptuning_dir: Path | None, device: str = "cpu", threads: int = 0
) -> LoadedModel:
    """The model, tokenizer and P-tuning the ``chatglm`` stage generates with."""
    torch = require("torch", purpose="the chatglm dialogue backend")
    ds = dialogue_settings
    set_threads(threads)
    dtype = resolve_dtype(ds.dtype, device)
    config = read_model_config(model_dir)
    from .glm.folder import generation

    gen = generation(config, model_dir)
    if gen is not None:  # THUDM folders never need their own code
        return load_thudm_native(ds, model_dir, config, gen, ptuning_dir, device, dtype)
    adapter = pt.locate(ptuning_dir) if ptuning_dir else None
    expected, where = _expected_pre_seq_len(ds.pre_seq_len, config)
    ckpt = None
    overrides: dict[str, Any] = {}
    pre_seq_len = 0
    if adapter is not None and adapter.kind == "thudm":
        ckpt = pt.read_thudm(adapter.path)
        pt.check_pre_seq_len(ckpt, expected, where)
        pre_seq_len = ckpt.pre_seq_len
        overrides = {"pre_seq_len": ckpt.pre_seq_len, "prefix_projection": ckpt.projection}
    elif adapter is not None:
        from ..json_files import read_json_object

        acfg = read_json_object(
            adapter.path / pt.ADAPTER_CONFIG,
            pt.PtuningError,
            example="the adapter_config.json written with the adapter by finetune or peft",
        )
        pre_seq_len = acfg.get("num_virtual_tokens") or 0
        if not isinstance(pre_seq_len, int) or isinstance(pre_seq_len, bool) or pre_seq_len < 0:
            raise pt.PtuningError(
                f"{adapter.path / pt.ADAPTER_CONFIG}: num_virtual_tokens must be a whole "
                f"number, got {pre_seq_len!r}; restore the file written with the adapter"
            )
        if expected and pre_seq_len and expected != pre_seq_len:
            raise pt.PtuningError(
                f"peft adapter {adapter.path} has num_virtual_tokens={pre_seq_len}, but {where} asks for "
                f"pre_seq_len={expected}; set dialogue.chatglm.pre_seq_len to {pre_seq_len} or 0"
            )
    model, tokenizer, config, remote = load_base(
        model_dir,
        device=device,
        dtype=dtype,
        trust_remote_code=ds.trust_remote_code,
        config_overrides=overrides if needs_remote_code(config) else None,
    )
    if ckpt is not None:
        if remote:
            pt.apply_prefix_to_thudm(model, ckpt)
        else:
            model = pt.apply_prefix_to_peft(model, ckpt)
    elif adapter is not None:
        model = pt.load_peft_adapter(model, adapter.path)
    model.to(device)
    model.eval()
    quantized = False
    if ds.quantize_int8:
        if device != "cpu" or dtype != torch.float32:
            raise ModelLoadError(
                "dialogue.chatglm.quantize_int8 works on the CPU with dtype fp32; switch one of them off"
            )
        model = quantize_int8(model)
        quantized = True
    fmt = adapter.meta.get("prompt_format") if adapter and adapter.meta else None
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        folder=model_dir,
        config=config,
        remote_code=remote,
        device=device,
        dtype=dtype,
        prompt_format=fmt or detect_format(config, tokenizer),
        adapter=adapter,
        pre_seq_len=pre_seq_len,
        quantized=quantized,
    )

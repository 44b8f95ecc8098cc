"""The so-vits ONNX exports of a voice, built on first use and cached beside the model.

Names (``pipelines/onnx_cache.py``): ``<checkpoint stem>.<hash of checkpoint + config>.gen.pf<0|1>.<fp32|int8>.onnx``
beside the checkpoint, ``<encoder stem>.<hash of the encoder weights>.cv2.L<layer><p|r>.<fp32|int8>.onnx``
beside the ContentVec weights (or in ``~/.cache/digital-persona/sovits/``).  A changed checkpoint,
config or encoder has another hash, so it gets a new export; later loads find the files at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines import onnx_cache

KIND = "sovits"


@dataclass(frozen=True)
class ExportPaths:
    contentvec: Path
    generator: Path


def contentvec_weights(path: str | Path) -> Path:
    """The file holding the ContentVec weights (the hash key of its export)."""
    from ..contentvec import resolve_contentvec

    kind, p = resolve_contentvec(path)
    if kind == "fairseq":
        return Path(p)
    for name in ("model.safetensors", "pytorch_model.bin", "config.json"):
        if (Path(p) / name).is_file():
            return Path(p) / name
    return Path(p) / "config.json"


def planned_paths(voice, contentvec: str | Path, int8: bool, predict_f0: bool) -> ExportPaths:
    """Where the exports for this voice live (found, or to be made) — no work done."""
    precision = "int8" if int8 else "fp32"
    ckpt, config = voice.files.checkpoint, voice.files.config
    gen_name = onnx_cache.cached_name(
        ckpt, f"gen.pf{int(bool(predict_f0))}.{precision}", onnx_cache.checkpoint_key(ckpt, config)
    )
    cv_file = contentvec_weights(contentvec)
    cv_tag = f"cv2.L{voice.spec.content_layer}{'p' if voice.spec.final_proj else 'r'}.{precision}"
    cv_name = onnx_cache.cached_name(cv_file, cv_tag)

    def where(anchor: Path, name: str) -> Path:
        hit = onnx_cache.find_cached(anchor, name, KIND)
        return hit if hit is not None else onnx_cache.target_folder(anchor, KIND) / name

    return ExportPaths(contentvec=where(cv_file, cv_name), generator=where(ckpt, gen_name))


def ensure_exports(
    voice, contentvec: str | Path, int8: bool, predict_f0: bool, persona=None, log: Callable[[str], None] = print
) -> ExportPaths:
    """The cached exports of ``voice`` (a loaded torch ``SovitsVoice``), made now with progress lines if missing."""
    from . import export as ex

    paths = planned_paths(voice, contentvec, int8, predict_f0)
    fp32 = planned_paths(voice, contentvec, False, predict_f0)
    todo = [p for p in (paths.contentvec, paths.generator) if not p.is_file()]
    if not todo:
        return paths
    t0 = time.perf_counter()
    steps = int(not fp32.contentvec.is_file()) + int(not fp32.generator.is_file())
    steps += int(int8 and not paths.contentvec.is_file()) + int(int8 and not paths.generator.is_file())
    log(f"so-vits: first use of {voice.files.checkpoint.name} with ONNX Runtime: exporting (once; cached beside it)")
    n = 0
    if not fp32.contentvec.is_file():
        n += 1
        log(f"so-vits: [{n}/{steps}] ContentVec encoder → {fp32.contentvec.name}")
        ex.export_contentvec(voice.hubert, fp32.contentvec, voice.spec.content_layer, voice.spec.final_proj)
    if not fp32.generator.is_file():
        n += 1
        log(f"so-vits: [{n}/{steps}] generator → {fp32.generator.name}")
        ex.export_generator(voice.net, fp32.generator, predict_f0, int(voice.config["model"]["ssl_dim"]))
    if int8:
        from . import quantize

        if not paths.contentvec.is_file():
            n += 1
            log(f"so-vits: [{n}/{steps}] int8 ContentVec (dynamic) → {paths.contentvec.name}")
            quantize.contentvec_int8(fp32.contentvec, paths.contentvec)
        if not paths.generator.is_file():
            n += 1
            log(f"so-vits: [{n}/{steps}] int8 generator (static QDQ, calibrated on the persona's speech)")
            quantize.generator_int8(voice, fp32, paths.generator, predict_f0, persona)
    log(f"so-vits: ONNX models ready in {time.perf_counter() - t0:.0f} s")
    return paths

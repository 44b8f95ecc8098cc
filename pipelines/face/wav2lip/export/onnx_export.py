"""``python -m pipelines export-onnx``: the Wav2Lip generator as ONNX (fp32, fp16, int8).

* fp32: ``torch.onnx.export`` of the generator with BatchNorm folded, inputs
  ``mel_batch (B,1,80,16)`` and ``face_batch (B,6,96,96)``, output ``output``,
  dynamic batch axis, opset 17.  The reference path.  The decoder's
  stride-2 transposed convolutions are written as their exact 4-phase
  decomposition (four small convs + DepthToSpace), so int8 runtimes run
  them as quantised convolutions at their own cost.
* fp16: the fp32 graph with float16 weights and compute (inputs and output
  stay float32); meant for GPUs.
* int8: static QDQ quantisation (int8 per-channel weights, uint8 activations)
  calibrated on the persona's enrolled face crops paired with mel windows of
  real speech (espeak-ng), then checked against fp32 on held-out pairs (other
  sentences): PSNR of the generated faces is printed and stored in
  ``<name>.onnx.json``.

Files are written beside the checkpoint (or ``--out-dir``) as
``<stem>.fp32.onnx`` etc., each through a temp file and a rename.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from pipelines.atomic_files import atomic_path, atomic_write_text
from pipelines.face.wav2lip.export.rewrites import (
    fold_pads_into_convs,
    rewrite_transposed_convs,
    tie_permutation_scales,
)
from pipelines.face.wav2lip.inference import INPUT_NAMES, OUTPUT_NAME
from pipelines.optional import require

OPSET = 17
PRECISIONS = ("fp32", "fp16", "int8")


def export_mel_face_graph(model, mel, face, path, opset: int) -> None:
    """``torch.onnx.export`` of a (mel, face) -> face generator with the names and dynamic batch
    axis every lip-sync runtime here expects (Wav2Lip, the ``personal`` model)."""
    torch = require("torch", "torch", "ONNX export")
    axes = {INPUT_NAMES[0]: {0: "batch"}, INPUT_NAMES[1]: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (mel, face),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def export_fp32(
    model, dst: str | os.PathLike, opset: int = OPSET, transposed_convs: str = "phases", fold_pads: bool = True
) -> Path:
    """Export a (loaded) ``Wav2Lip`` to ``dst`` with BatchNorm folded and a dynamic batch axis.

    ``transposed_convs``: how the decoder's transposed convolutions are
    written (``rewrite_transposed_convs``); the default 4-phase form computes
    the same outputs with ordinary convolutions, so int8 runtimes quantise
    them too, at the transposed convolutions' own cost.

    ``fold_pads``: the phase convolutions' one-row/column zero pads (torch
    exports each as a Pad fed by a chain of shape ops) are constant-folded and
    merged into their Conv (``fold_pads_into_convs``).  ONNX Runtime's CPU
    convolutions run in a blocked (NCHWc) layout and every Pad between two of
    them cost a layout reorder out and back in: in fp32 the 15 Pads and their
    reorders were ~8-10 % of the generator's time (ORT profiling).
    """
    torch = require("torch", "torch", "ONNX export")
    require("onnx", "onnx", "ONNX export")
    from pipelines.face.wav2lip.model import fuse_batchnorm

    if opset < 13:
        raise ValueError(f"opset must be 13 or newer, got {opset}")
    fused = rewrite_transposed_convs(fuse_batchnorm(copy.deepcopy(model).cpu().float().eval()), transposed_convs)
    mel = torch.zeros(2, 1, 80, 16)
    face = torch.zeros(2, 6, 96, 96)
    with atomic_path(dst, suffix=".tmp.onnx") as tmp:
        export_mel_face_graph(fused, mel, face, tmp, opset)
        if fold_pads:
            _fold_pads(tmp)
        _set_meta(tmp, precision="fp32", transposed_convs=transposed_convs)
    return Path(dst)


def _fold_pads(path: Path) -> int:
    """Constant-fold ``path`` (ONNX Runtime's basic level: standard ONNX ops only) and merge Pads into Convs."""
    try:
        import onnxruntime as ort
    except ImportError:  # folding needs it; the model is right without
        return 0
    import onnx

    with tempfile.TemporaryDirectory() as work:
        folded_path = Path(work) / "basic.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(folded_path)
        opts.log_severity_level = 3  # not the "removing unused initializer" notes
        ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        m = onnx.load(str(folded_path))
    if any(n.domain not in ("", "ai.onnx") for n in m.graph.node):
        return 0  # only standard ops may be written back
    n = fold_pads_into_convs(m)
    if n:
        onnx.save(m, str(path))
    return n


def _set_meta(path: Path, **meta: str) -> None:
    import onnx

    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    model.producer_name = "pipelines.face.wav2lip.export.onnx_export"
    onnx.save(model, str(path))


def convert_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """fp16 weights and compute; float32 inputs/outputs (casts at the edges)."""
    onnx = require("onnx", "onnx", "fp16 conversion")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(model, keep_io_types=True)
    with atomic_path(dst, suffix=".tmp.onnx") as tmp:
        onnx.save(half, str(tmp))
        _set_meta(tmp, precision="fp16")
    return Path(dst)


def quantize_int8(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    mels: np.ndarray,
    faces: np.ndarray,
    batch: int = 16,
    method: str = "minmax",
    per_channel: bool = True,
) -> Path:
    """Static int8 QDQ quantisation of the fp32 model ``src`` calibrated on (mels, faces)."""
    q = require("onnxruntime.quantization", "onnxruntime", "int8 quantisation")
    from pipelines.face.wav2lip.export.calibration import make_reader

    methods = {
        "minmax": q.CalibrationMethod.MinMax,
        "percentile": q.CalibrationMethod.Percentile,
        "entropy": q.CalibrationMethod.Entropy,
    }
    if method not in methods:
        raise ValueError(f"calibration method must be one of {', '.join(methods)}, got {method!r}")
    extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = 99.99
    with atomic_path(dst, suffix=".tmp.onnx") as tmp, tempfile.TemporaryDirectory() as work:
        pre = Path(work) / "pre.onnx"
        q.shape_inference.quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        import onnx

        m = onnx.load(str(pre))
        if fold_pads_into_convs(m):
            onnx.save(m, str(pre))
        q.quantize_static(
            str(pre),
            str(tmp),
            make_reader(mels, faces, batch),
            quant_format=q.QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            calibrate_method=methods[method],
            extra_options=extra,
        )
        tied = tie_permutation_scales(tmp)
        _set_meta(
            tmp, precision="int8", calibration=method, tied_permutations=str(tied), calibration_pairs=str(len(mels))
        )
    return Path(dst)


def run_model(
    path: str | os.PathLike, mels: np.ndarray, faces: np.ndarray, batch: int = 16, threads: int = 0
) -> np.ndarray:
    from pipelines.face.wav2lip.inference import Wav2LipInference

    inf = Wav2LipInference(path, runtime="onnx", threads=threads).load()
    return np.concatenate([inf(mels[i : i + batch], faces[i : i + batch]) for i in range(0, len(mels), batch)])


def compare(reference: np.ndarray, test: np.ndarray) -> dict:
    from pipelines.face.wav2lip.export.calibration import psnr

    return {
        "psnr_db": round(float(psnr(reference, test)), 2),
        "max_abs": round(float(np.max(np.abs(reference - test))), 5),
        "mean_abs": round(float(np.mean(np.abs(reference - test))), 5),
    }


# -- command line --------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines export-onnx", description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", help="settings JSON (default: settings.json if present)")
    p.add_argument("--checkpoint", help="Wav2Lip .pth (default: face.wav2lip.checkpoint from the settings)")
    p.add_argument("--out-dir", help="where the .onnx files go (default: beside the checkpoint)")
    p.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=list(PRECISIONS),
        help="which exports to make (default: all three)",
    )
    p.add_argument("--persona", help="persona folder whose enrolled face calibrates int8 (default: settings)")
    p.add_argument("--calib-frames", type=int, default=128, help="face/mel pairs for int8 calibration")
    p.add_argument("--check-frames", type=int, default=48, help="held-out pairs for the PSNR check")
    p.add_argument("--calibrate", default="minmax", choices=("minmax", "percentile", "entropy"))
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipelines.cli_settings import settings_from_args
    from pipelines.face.wav2lip.checkpoint import CheckpointError, load_wav2lip
    from pipelines.settings import SettingsError

    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    ckpt = args.checkpoint or settings.face.wav2lip.checkpoint
    if not ckpt:
        print(
            "no checkpoint: pass --checkpoint module/wav2lip/wav2lip_gan.pth or set face.wav2lip.checkpoint",
            file=sys.stderr,
        )
        return 2
    ckpt_path = settings.resolve(ckpt)
    if ckpt_path.suffix.lower() == ".onnx":
        print(f"{ckpt_path}: already an ONNX model; export-onnx needs the PyTorch .pth checkpoint", file=sys.stderr)
        return 2
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    try:
        model = load_wav2lip(ckpt_path)
    except CheckpointError as exc:
        print(exc, file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir) if args.out_dir else ckpt_path.parent
    stem = ckpt_path.stem
    paths = {p: out_dir / f"{stem}.{p}.onnx" for p in PRECISIONS}
    report: dict = {"checkpoint": str(ckpt_path), "opset": args.opset, "files": {}}

    t0 = time.perf_counter()
    export_fp32(model, paths["fp32"], args.opset)
    report["files"]["fp32"] = str(paths["fp32"])
    print(f"fp32  {paths['fp32']}  ({time.perf_counter() - t0:.1f} s)")

    if "fp16" in args.precision:
        t0 = time.perf_counter()
        convert_fp16(paths["fp32"], paths["fp16"])
        report["files"]["fp16"] = str(paths["fp16"])
        print(f"fp16  {paths['fp16']}  ({time.perf_counter() - t0:.1f} s)")

    if "int8" in args.precision:
        try:
            mels_c, faces_c, mels_h, faces_h, source = _calibration_data(settings, args)
        except Exception as exc:  # no enrolled face, no espeak, ...
            print(f"int8 not made: {exc}", file=sys.stderr)
            return 1
        t0 = time.perf_counter()
        quantize_int8(paths["fp32"], paths["int8"], mels_c, faces_c, method=args.calibrate)
        report["files"]["int8"] = str(paths["int8"])
        report["calibration"] = {
            "pairs": int(len(mels_c)),
            "face": source,
            "method": args.calibrate,
            "held_out_pairs": int(len(mels_h)),
        }
        print(
            f"int8  {paths['int8']}  ({time.perf_counter() - t0:.1f} s, {len(mels_c)} calibration pairs from {source})"
        )
        ref = run_model(paths["fp32"], mels_h, faces_h, threads=args.threads)
        report["check"] = {
            "int8_vs_fp32": compare(ref, run_model(paths["int8"], mels_h, faces_h, threads=args.threads))
        }
        if "fp16" in args.precision:
            try:
                report["check"]["fp16_vs_fp32"] = compare(
                    ref, run_model(paths["fp16"], mels_h, faces_h, threads=args.threads)
                )
            except Exception as exc:  # some CPU builds lack fp16 kernels
                report["check"]["fp16_vs_fp32"] = {"error": str(exc).splitlines()[0]}
        for k, v in report["check"].items():
            print(f"check {k}: {v}")
    atomic_write_text(out_dir / f"{stem}.onnx.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print("set face.wav2lip.checkpoint to one of these files to use it (int8 for CPUs, fp16 for GPUs)")
    return 0


def _calibration_data(settings, args):
    """(calibration mels, faces, held-out mels, faces, face source) from the persona's avatar + espeak."""
    from pipelines.face.avatar.loading import load_avatar
    from pipelines.face.wav2lip.export.calibration import SENTENCES, paired_inputs, speech_samples, speech_windows
    from pipelines.persona import Persona

    persona = Persona.load(Path(args.persona) if args.persona else settings.persona_dir)
    avatar = load_avatar(persona, settings)
    fps = float(settings.face.fps)
    calib = speech_windows(speech_samples(persona, SENTENCES[0::2]), fps, settings.face.wav2lip.silence_db)
    held = speech_windows(speech_samples(persona, SENTENCES[1::2]), fps, settings.face.wav2lip.silence_db)
    crops = np.asarray(avatar.crops)
    mels_c, faces_c = paired_inputs(crops, calib, args.calib_frames, seed=0)
    # held-out: the crops in reverse order with the other sentences
    mels_h, faces_h = paired_inputs(crops[::-1], held, args.check_frames, seed=1)
    return mels_c, faces_c, mels_h, faces_h, f"{avatar.source} ({len(crops)} crops)"

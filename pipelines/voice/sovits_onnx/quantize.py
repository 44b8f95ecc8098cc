"""int8 versions of the so-vits ONNX graphs.

* ContentVec: dynamic int8 of its MatMuls (the transformer; weights int8, activations quantised
  per call), the convolutional feature extractor stays fp32.
* Generator: static QDQ (int8 per-channel weights, uint8 activations) of its convolutions,
  calibrated on the generator inputs the voice itself computes from the persona's base-TTS
  speech (espeak-ng sentences in the persona's voices), MinMax ranges.

  Only the convolutions: the residual ``Add`` and ``LeakyRelu`` between them stay fp32.  Measured
  (DL-B sizes, 350 frames, 2 threads, same run, log-mel correlation with fp32 on the calibration
  stretches): Conv only RTF 0.19–0.27, corr 0.995; + Add 0.14 / 0.94; + LeakyRelu 0.15 / 0.955;
  + both inside the resblocks only 0.21 (against 0.27) / 0.964.  The int8 residual stream is
  1.3x faster but below the 0.98 the voice must keep; ONNX Runtime's NHWC transposes and the
  Q/DQ pairs at those fp32 ops are about a quarter of the int8 graph's time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipelines.atomic_files import atomic_path

CALIBRATION_FRAMES = 160  # frames per calibration stretch (cut), enough for the ranges, fast to calibrate
CALIBRATION_STRETCHES = 4
#: convolutions left in fp32: the output conv and the small ones at the edges (cheap, sensitive)
KEEP_FP32 = ("conv_post", "conv_pre", "noise_convs", "/pre/", "enc_p", "flow", "f0_decoder")


def contentvec_int8(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(dst, suffix=".tmp.onnx") as tmp, _quiet_ort():
        quantize_dynamic(str(src), str(tmp), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    return Path(dst)


def calibration_feeds(voice, predict_f0: bool, persona=None, speech=None) -> list[dict[str, np.ndarray]]:
    """Generator inputs computed by ``voice`` (torch or ONNX) from real speech, as the conversion makes them."""
    import torch

    from . import export as ex

    if speech is None:
        from pipelines.face.wav2lip.export.calibration import SENTENCES, speech_samples

        speech = speech_samples(persona, SENTENCES[0::2])
    feeds: list[dict[str, np.ndarray]] = []
    shape = voice.noise_shape()

    def record(c, f0, uv, sid, predict, noise_scale, vol):
        t = min(int(c.shape[-1]), CALIBRATION_FRAMES)
        vol_np = None if vol is None else vol[:, :t].cpu().numpy()
        feeds.append(
            ex.generator_inputs(
                shape,
                c[..., :t].cpu().numpy(),
                f0[:, :t].cpu().numpy(),
                uv[:, :t].cpu().numpy(),
                sid,
                noise_scale,
                vol_np,
                seed=len(feeds),
            )
        )
        return torch.zeros(1, 1, int(f0.shape[1]) * voice.hop), f0

    saved = voice.__dict__.get("_generate")
    voice._generate = record
    try:
        for samples, sr in speech:
            voice.convert(samples, sr, auto_predict_f0=predict_f0)
            if len(feeds) >= CALIBRATION_STRETCHES:
                break
    finally:
        if saved is None:
            del voice._generate
        else:
            voice._generate = saved
    if not feeds:
        raise ValueError("no voiced speech for the int8 calibration of the so-vits generator")
    return feeds[:CALIBRATION_STRETCHES]


def generator_int8(voice, fp32, dst: str | os.PathLike, predict_f0: bool, persona=None, speech=None) -> Path:
    """Static QDQ int8 of the fp32 generator graph ``fp32.generator``, calibrated on the persona's speech."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    feeds = calibration_feeds(voice, predict_f0, persona, speech)
    graph = onnx.load(str(fp32.generator), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "Conv" and any(k in n.name for k in KEEP_FP32)]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    with atomic_path(dst, suffix=".tmp.onnx") as tmp, _quiet_ort():
        quantize_static(
            str(fp32.generator),
            str(tmp),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            op_types_to_quantize=["Conv"],
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=keep,
        )
    return Path(dst)


def _quiet_ort():
    import contextlib
    import logging

    @contextlib.contextmanager
    def quiet():
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            yield
        finally:
            root.setLevel(level)

    return quiet()

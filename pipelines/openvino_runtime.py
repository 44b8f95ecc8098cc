"""OpenVINO for the Wav2Lip generator's ONNX graph: bf16 where the CPU computes bf16 in hardware.

``face.wav2lip.runtime openvino`` runs the fp32 ONNX export of a checkpoint with OpenVINO's bf16
matrix units: much closer to fp32 than ONNX Runtime's int8, somewhat slower than it on this
machine (``bench render``, 2 cores, Xeon with AVX-512 VNNI/BF16/FP16 and AMX, 720x404 face,
14 s of speech, batch 32, same run): onnx-fp32 18.4 fps, onnx-int8 75.0 fps, openvino-bf16 57.5 fps;
PSNR of the frames against fp32: int8 28.6 dB, OpenVINO bf16 39.9 dB.  So ``auto`` keeps int8 and
OpenVINO is the choice for the face's fidelity at about 3x fp32's speed.

Measured and rejected for so-vits: the generator at DL-B's sizes ran at RTF 0.24 (ONNX Runtime
int8 0.30–0.38), but OpenVINO compiles anew for every new input length (1.4–4.5 s, ten times
a steady call; its model cache does not keep dynamic shapes), and so-vits' chunks vary in length.
Measured again (2026-12-03, same run, 350 frames = 4.1 s of 44.1 kHz audio, 2 threads): ONNX
Runtime fp32 RTF 0.54, int8 0.27; OpenVINO bf16 on the fp32 graph 0.22 with a static shape
(10.6 s to compile it), 0.19–0.24 with a dynamic one once a length has been seen, but 7.8–10 s
for the first call at each new length (414 and 478 frames); OpenVINO on the int8 QDQ graph
0.83 (63–151 s to compile).  Fixed-length buckets would need one such compile (and one weight
copy) per bucket for a 1.25x gain, so the voice stays on ONNX Runtime int8.
Wav2Lip's new batch sizes cost 0.1–0.4 s, and ``Wav2LipInference`` pads each batch to a few
sizes compiled at load time.

Without hardware bf16, OpenVINO's bf16 hint computes in fp32 (``resolve_precision``).

``OpenVinoSession`` offers the part of ``onnxruntime.InferenceSession`` the stage calls
(``run``, ``get_inputs`` / ``get_outputs`` names), so a stage holds either.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass

import numpy as np

#: ``precision`` choices: auto = bf16 where the CPU has it in hardware, else f32
PRECISIONS = ("auto", "bf16", "f32")


def installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


@functools.lru_cache(maxsize=1)
def _core():
    from pipelines.optional import require

    ov = require("openvino", "openvino", "the OpenVINO runtime of the CPU stages")
    return ov.Core()


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bf16 in hardware here (AMX or AVX-512 BF16)."""
    if not installed():
        return False
    try:
        return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # a CPU plugin that cannot start: no OpenVINO here
        return False


def resolve_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"OpenVINO precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16() else "f32"
    return precision


@dataclass(frozen=True)
class _Port:
    """``name`` / ``shape`` / ``type`` of a graph input or output, as ONNX Runtime's ``NodeArg`` has them."""

    name: str
    shape: list
    type: str


class OpenVinoSession:
    """One ONNX graph compiled by OpenVINO for the CPU, called like an ``InferenceSession``."""

    def __init__(self, path: str | os.PathLike, threads: int = 0, precision: str = "auto") -> None:
        self.path = str(path)
        self.precision = resolve_precision(precision)
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": self.precision}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self.compiled = _core().compile_model(self.path, "CPU", config)
        except Exception as exc:
            raise ValueError(
                f"{self.path}: OpenVINO cannot compile this graph ({str(exc).splitlines()[0]}); "
                "set the stage's runtime to onnx"
            ) from exc
        self.request = self.compiled.create_infer_request()
        self._inputs = [_port(p) for p in self.compiled.inputs]
        self._outputs = [_port(p) for p in self.compiled.outputs]
        self._out_ports = {name: port for port in self.compiled.outputs for name in port.get_names()}

    def get_inputs(self) -> list[_Port]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Port]:
        return list(self._outputs)

    def run(self, output_names, feeds: dict) -> list[np.ndarray]:
        """The outputs named (all when ``None``) for ``feeds``, copied out of OpenVINO's buffers."""
        result = self.request.infer({k: np.ascontiguousarray(v) for k, v in feeds.items()})
        names = list(output_names) if output_names else [p.name for p in self._outputs]
        unknown = [n for n in names if n not in self._out_ports]
        if unknown:
            raise ValueError(f"{self.path}: no output named {unknown[0]!r}; it has {sorted(self._out_ports)}")
        return [np.array(result[self._out_ports[n]]) for n in names]


#: OpenVINO element types as ONNX Runtime names them
_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)", "i64": "tensor(int64)", "i32": "tensor(int32)"}


def _port(port) -> _Port:
    shape = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
    kind = port.get_element_type().get_type_name()
    return _Port(port.get_any_name(), shape, _TYPES.get(kind, kind))

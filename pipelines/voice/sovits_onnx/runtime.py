"""``OnnxSovitsVoice``: the so-vits conversion with both halves in ONNX Runtime on the CPU.

Everything around the two networks (resampling, silence split, F0, unit stretching, cluster
blend, loudness) is ``SovitsVoice``'s own code; only the ContentVec encoder and the generator
run as ONNX graphs (``export.py``), fp32 or int8 (``quantize.py``), cached beside the model
(``cache.py``).  The generator gets the random draws of ``SynthesizerTrn.infer`` for its seed,
so fp32 ONNX gives PyTorch's output.  After the sessions are made the PyTorch models are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..sovits_vc import SovitsVoice
from . import export as ex
from .cache import ensure_exports, planned_paths

RUNTIMES = ("auto", "torch", "onnx")


def session(path: str | os.PathLike, threads: int = 0):
    from pipelines.optional import require

    ort = require("onnxruntime", "onnxruntime", "the ONNX runtime of the so-vits voice")
    from pipelines.ort_options import cpu_session_options

    so = cpu_session_options(ort, int(threads) if threads > 0 else min(os.cpu_count() or 1, 4))
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxSovitsVoice(SovitsVoice):
    """A ``SovitsVoice`` whose ContentVec and generator run in ONNX Runtime."""

    def __init__(
        self,
        model_dir: str | Path,
        contentvec: str | Path,
        checkpoint: str = "",
        cluster_model: str = "",
        *,
        int8: bool = False,
        predict_f0: bool = True,
        threads: int = 0,
        persona=None,
        log: Callable[[str], None] = print,
    ) -> None:
        super().__init__(model_dir, contentvec, checkpoint, cluster_model, device="cpu", load_networks=False)
        self.int8 = bool(int8)
        self.auto_f0 = bool(self.config["model"].get("use_automatic_f0_prediction", True)) and self.spec.auto_f0
        self.predict_f0 = bool(predict_f0) and self.auto_f0
        self._shape = ex.NoiseShape.from_config(self.config)
        planned = planned_paths(self, contentvec, self.int8, self.predict_f0)
        if planned.contentvec.is_file() and planned.generator.is_file():
            self.paths = planned  # cached: the PyTorch models are never loaded
        else:
            self.load_networks(contentvec)
            assert ex.NoiseShape.of(self.net) == self._shape
            self.paths = ensure_exports(self, contentvec, self.int8, self.predict_f0, persona=persona, log=log)
        self.cv_session = session(self.paths.contentvec, threads)
        self.gen_session = session(self.paths.generator, threads)
        self._gen_names = {i.name for i in self.gen_session.get_inputs()}
        self.net = None  # the graphs replace the PyTorch models (memory)
        self.hubert = None

    def noise_shape(self) -> ex.NoiseShape:
        return self._shape

    def _units(self, wav16k):
        import torch

        if getattr(self, "cv_session", None) is None:  # during the int8 calibration at first use
            return super()._units(wav16k)
        out = self.cv_session.run([ex.CV_OUTPUT], {ex.CV_INPUT: wav16k.detach().cpu().numpy().astype(np.float32)})
        return torch.from_numpy(out[0])

    def _generate(self, c, f0, uv, sid: int, predict_f0: bool, noise_scale: float, vol):
        import torch

        if bool(predict_f0) != self.predict_f0 and self.auto_f0:
            raise ValueError(
                f"this ONNX voice was exported with voice.sovits.auto_predict_f0 {self.predict_f0}; "
                "reload the voice after changing it"
            )
        feeds = ex.generator_inputs(
            self._shape,
            c.detach().cpu().numpy(),
            f0.detach().cpu().numpy(),
            uv.detach().cpu().numpy(),
            sid,
            noise_scale,
            None if vol is None else vol.detach().cpu().numpy(),
        )
        feeds = {k: v for k, v in feeds.items() if k in self._gen_names}
        audio, f0_out = self.gen_session.run(list(ex.GEN_OUTPUTS), feeds)
        return torch.from_numpy(audio), torch.from_numpy(f0_out)

"""F0 of the base voice for so-vits: the estimators ``voice.sovits.f0_method`` names, one interface.

``F0Estimator(sample_rate, hop, family)``:

* ``raw(audio, method)``: Hz per hop frame (``len(audio) // hop`` frames), 0 where unvoiced —
  what ``bench f0`` scores against a known contour;
* ``f0_uv(audio, method)``: the F0 the so-vits generator gets: unvoiced frames filled in (the
  model family's own ``interpolate_f0``), plus the voiced flags.

``dio`` / ``harvest`` are 4.1's ``DioF0Predictor`` / ``HarvestF0Predictor`` (pyworld, stonemask
refined, 0.1 Hz rounding) for 4.0 / 4.1 models; fork-trained models use the fork's own
``compute_f0`` for every method but ``fcpe`` (``torchfcpe``, its bundled weights), as they were
trained.  ``parselmouth`` and ``crepe``/``crepe-tiny`` come through the fork's ``compute_f0``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from ..settings import F0_METHODS

__all__ = ["F0_METHODS", "F0Estimator", "interpolate_f0"]
F0_FLOOR, F0_CEIL = 50.0, 1100.0


class F0Estimator:
    """F0 per hop frame at one sample rate; estimator models (FCPE, CREPE) are loaded on first use."""

    def __init__(self, sample_rate: int, hop: int, family: str = "4.1", device: str = "cpu") -> None:
        self.sample_rate = int(sample_rate)
        self.hop = int(hop)
        self.family = family
        self.device = device
        self._fcpe = None

    def raw(self, audio: np.ndarray, method: str) -> np.ndarray:
        """Hz per frame, 0 for unvoiced frames; ``len(audio) // hop`` frames."""
        if method not in F0_METHODS:
            raise ValueError(f"voice.sovits.f0_method must be one of {', '.join(F0_METHODS)}, got {method!r}")
        n_frames = len(audio) // self.hop
        if method == "fcpe":
            f0 = self._fcpe_f0(audio, n_frames)
        elif method in ("dio", "harvest") and self.family != "fork":
            f0 = self._pyworld_f0(audio, n_frames, method)
        else:
            import so_vits_svc_fork.f0 as f0mod

            f0 = f0mod.compute_f0(audio, sampling_rate=self.sample_rate, hop_length=self.hop, method=method)
        f0 = np.nan_to_num(np.asarray(f0, dtype=np.float64).ravel(), nan=0.0)
        f0[f0 < 0] = 0.0
        if len(f0) != n_frames:  # estimators differ by a frame at the ends
            f0 = np.pad(f0, (0, max(0, n_frames - len(f0))), mode="edge")[:n_frames]
        return f0

    def f0_uv(self, audio: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
        """F0 per hop at the model rate, unvoiced frames interpolated, and the voiced flags."""
        f0 = self.raw(audio, method)
        if self.family == "fork":
            import so_vits_svc_fork.f0 as f0mod

            f0i, uv = f0mod.interpolate_f0(np.asarray(f0, dtype=np.float32))
            return np.asarray(f0i, dtype=np.float32), np.asarray(uv, dtype=np.float32)
        return interpolate_f0(f0, self.hop, self.sample_rate)

    def _pyworld_f0(self, audio: np.ndarray, n_frames: int, method: str) -> np.ndarray:
        """4.1's ``DioF0Predictor`` / ``HarvestF0Predictor``: F0 50-1100 Hz per hop, stonemask-refined,
        rounded to 0.1 Hz, resized to ``len // hop`` frames (no level normalisation)."""
        import pyworld
        from so_vits_svc_fork.f0 import _resize_f0

        wav = np.asarray(audio, dtype=np.double)
        track = pyworld.dio if method == "dio" else pyworld.harvest
        f0, t = track(
            wav,
            fs=self.sample_rate,
            f0_floor=F0_FLOOR,
            f0_ceil=F0_CEIL,
            frame_period=1000 * self.hop / self.sample_rate,
        )
        f0 = np.round(pyworld.stonemask(wav, f0, t, self.sample_rate), 1)
        return _resize_f0(f0, n_frames)

    def _fcpe_f0(self, audio: np.ndarray, n_frames: int) -> np.ndarray:
        import torch

        from ..optional import require
        from . import sovits_compat

        sovits_compat.ensure_torchaudio()
        require("torchfcpe", "torchfcpe", "the fcpe F0 method (installed with --no-deps, see requirements-nodeps.txt)")
        import torchfcpe

        if self._fcpe is None:
            from .sovits_loader import _quiet

            with contextlib.redirect_stdout(io.StringIO()), _quiet():
                self._fcpe = torchfcpe.spawn_bundled_infer_model(device=str(self.device))
        x = torch.from_numpy(np.asarray(audio, dtype=np.float32)).to(self.device)[None, :, None]
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            f0 = self._fcpe.infer(
                x,
                sr=self.sample_rate,
                decoder_mode="local_argmax",
                threshold=0.05,
                f0_min=F0_FLOOR,
                f0_max=F0_CEIL,
                interp_uv=False,
                output_interp_target_length=max(n_frames, 1),
            )
        return f0[0, :, 0].cpu().numpy()


def interpolate_f0(f0: np.ndarray, hop: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Unvoiced frames filled by linear interpolation in time, ends held (4.1's ``interpolate_f0``);
    returns (f0, voiced flags) as float32."""
    uv = (f0 > 0.0).astype(np.float32)
    nz = np.nonzero(f0)[0]
    if len(nz) == 0:
        return np.zeros(len(f0), np.float32), uv
    if len(nz) == 1:
        return np.full(len(f0), f0[nz[0]], np.float32), uv
    t_org = hop / sr * nz.astype(np.float32)
    t_frame = np.arange(len(f0)) * hop / sr
    data = f0[nz]
    return np.interp(t_frame, t_org, data, left=data[0], right=data[-1]).astype(np.float32), uv

"""Voice conversion backend ``sovits``: each sentence converted into the persona's so-vits-svc voice.

Per ``AudioChunk`` (one sentence from the base TTS):

1. resample from the TTS rate to the model's rate (``config.json`` ``data.sampling_rate``);
2. split at silences (the fork's ``Svc.infer_silence``); every voiced stretch,
   padded with ``PAD_SECONDS`` of silence, goes through ContentVec (local
   folder, see ``contentvec.py``), the F0 estimator (``voice.f0_method``, shifted
   by ``voice.transpose`` semitones), the optional kmeans cluster blend
   (``voice.cluster_ratio``) and the generator (``voice.noise_scale``);
3. emit the converted sentence at the model's rate, same duration as the input
   (the face stage resamples to its own rate).

The model is loaded once in ``load()`` and stays loaded between turns.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..messages import AudioChunk, Message
from ..stage import Stage, TurnContext
from pipelines.media.audio import as_mono_float32, fit_length, peak_limit, resample

LOG = logging.getLogger(__name__)
F0_METHODS = ("dio", "harvest", "crepe-tiny", "crepe", "parselmouth")
PAD_SECONDS = 0.2        # silence around each voiced stretch (the fork's CLI uses 0.5 s)
MIN_SECONDS = 0.06       # shorter input is returned as silence: nothing to convert


class SovitsVoice:
    """A loaded so-vits-svc model + ContentVec encoder; ``convert`` is the whole conversion."""

    def __init__(self, model_dir: str | Path, contentvec: str | Path, checkpoint: str = "",
                 cluster_model: str = "", device: str = "cpu") -> None:
        from . import sovits_compat
        from .contentvec import resolve_contentvec
        from .sovits_loader import (build_generator, find_model, load_cluster_model, load_generator_state,
                                    read_config)

        self.files = find_model(model_dir, checkpoint, cluster_model)
        self.config = read_config(self.files.config)
        resolve_contentvec(contentvec)  # a clear error before anything heavy is loaded
        state = load_generator_state(self.files.checkpoint)
        sovits_compat.import_fork()
        from so_vits_svc_fork.inference.core import Svc

        config, files = self.config, self.files

        class _Svc(Svc):
            def load_model(self) -> None:  # the fork's own loader tolerates mismatches silently
                self.net_g = build_generator(config, state, files).to(self.device, dtype=self.dtype)

        with sovits_compat.contentvec_source(contentvec):
            self.svc = _Svc(net_g_path=str(files.checkpoint), config_path=str(files.config), device=device)
        self.cluster = load_cluster_model(files.cluster) if files.cluster else None
        if self.cluster is not None:
            self.svc.cluster_model = self.cluster
        self.sample_rate = int(self.config["data"]["sampling_rate"])
        self.speakers = dict(sorted(self.config["spk"].items(), key=lambda kv: kv[1]))
        self._lock = threading.Lock()

    # -- settings checks ---------------------------------------------------------
    def speaker_name(self, speaker: str = "") -> str:
        if not speaker:
            return next(iter(self.speakers))
        if speaker in self.speakers:
            return speaker
        raise ValueError(f"speaker {speaker!r} is not in {self.files.config} (voice.speaker); "
                         f"known: {', '.join(self.speakers)}")

    def check_cluster(self, speaker: str, ratio: float) -> None:
        if ratio <= 0:
            return
        if self.cluster is None:
            raise ValueError(f"voice.cluster_ratio is {ratio} but there is no cluster model: set "
                             f"voice.cluster_model or put kmeans_*.pt into {self.files.checkpoint.parent}")
        if speaker not in self.cluster:
            raise ValueError(f"the cluster model has no speaker {speaker!r} (has: {', '.join(self.cluster)})")

    # -- conversion --------------------------------------------------------------
    def convert(self, samples: np.ndarray, sample_rate: int, *, speaker: str = "", transpose: float = 0,
                f0_method: str = "dio", noise_scale: float = 0.4, cluster_ratio: float = 0.0) -> np.ndarray:
        """Converted float32 audio at ``self.sample_rate``, as long as the input."""
        if f0_method not in F0_METHODS:
            raise ValueError(f"voice.f0_method must be one of {', '.join(F0_METHODS)}, got {f0_method!r}")
        name = self.speaker_name(speaker)
        self.check_cluster(name, cluster_ratio)
        x = as_mono_float32(samples)
        x = resample(x, int(sample_rate), self.sample_rate)
        n = len(x)
        if n < MIN_SECONDS * self.sample_rate or float(np.max(np.abs(x), initial=0.0)) < 1e-4:
            return np.zeros(n, dtype=np.float32)
        import torch

        with self._lock, torch.inference_mode():
            y = self.svc.infer_silence(x, speaker=name, transpose=int(round(transpose)),
                                       cluster_infer_ratio=float(cluster_ratio), noise_scale=float(noise_scale),
                                       f0_method=f0_method, pad_seconds=PAD_SECONDS, chunk_seconds=0.5,
                                       max_chunk_seconds=40)
        y = np.nan_to_num(np.asarray(y, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        return peak_limit(fit_length(y, n))


def voice_from_settings(settings) -> SovitsVoice:
    """A ``SovitsVoice`` from ``settings.voice`` (paths resolved from the repository root)."""
    from .contentvec import ContentVecError

    v = settings.voice
    if not v.contentvec_dir:
        raise ContentVecError("voice.contentvec_dir is empty: the sovits backend needs the ContentVec encoder "
                              "from a local folder (content-vec-best, or DL-B's hubert/checkpoint_best_legacy_500.pt)")
    model_dir = settings.resolve(v.sovits_dir) if v.sovits_dir else ""
    return SovitsVoice(model_dir, settings.resolve(v.contentvec_dir), checkpoint=v.sovits_checkpoint,
                       cluster_model=str(settings.resolve(v.cluster_model)) if v.cluster_model else "",
                       device=settings.resolved_device())


class SovitsConversion(Stage):
    """``vc`` backend ``sovits``: each ``AudioChunk`` converted sentence by sentence."""

    name = "vc"
    backend = "sovits"

    def __init__(self, settings, persona) -> None:
        self.settings = settings
        self.persona = persona
        self.voice: SovitsVoice | None = None

    def options(self) -> dict[str, Any]:
        v = self.settings.voice
        return dict(speaker=v.speaker, transpose=v.transpose, f0_method=v.f0_method,
                    noise_scale=v.noise_scale, cluster_ratio=v.cluster_ratio)

    def load(self) -> None:
        if self.voice is None:
            self.voice = voice_from_settings(self.settings)
        opts = self.options()
        self.voice.speaker_name(opts["speaker"])          # wrong settings fail at start, not mid-turn
        self.voice.check_cluster(self.voice.speaker_name(opts["speaker"]), opts["cluster_ratio"])
        # the first call pays for lazy set-up (allocations, f0 estimator), not the first sentence
        sr = 16000
        t = np.arange(int(0.4 * sr)) / sr
        self.voice.convert((0.3 * np.sin(2 * np.pi * 160 * t)).astype(np.float32), sr, **opts)

    def process(self, msg: Message, ctx: TurnContext) -> Iterator[Message]:
        if not isinstance(msg, AudioChunk):
            raise TypeError(f"vc expects AudioChunk messages, got {type(msg).__name__}")
        if self.voice is None:
            self.load()
        out = self.voice.convert(msg.samples, msg.sample_rate, **self.options())
        yield AudioChunk(msg.turn_id, self.next_seq(msg.turn_id), samples=out,
                         sample_rate=self.voice.sample_rate, text=msg.text,
                         phonemes=msg.phonemes)  # conversion keeps the timing

    def close(self) -> None:
        self.voice = None

"""Voice conversion backend ``sovits``: each sentence converted into the persona's so-vits-svc voice.

Per ``AudioChunk`` (one sentence from the base TTS):

1. resample from the TTS rate to the model's rate (``config.json`` ``data.sampling_rate``);
2. split at silences (so-vits-svc-fork's ``split_silence``); every voiced stretch,
   padded with ``PAD_SECONDS`` of silence, is converted as so-vits-svc 4.1's
   ``Svc.infer`` does (``SovitsVoice.infer_chunk``): F0 (``voice.sovits.f0_method``,
   shifted by ``voice.sovits.transpose``), ContentVec units of the layer the model's
   ``speech_encoder`` names (local encoder, see ``contentvec.py``), the optional
   kmeans blend (``voice.sovits.cluster_ratio``), the frame volume for ``vol_embedding``
   models, the generator (``sovits_models.py``; ``voice.sovits.noise_scale``, and with
   ``voice.sovits.auto_predict_f0`` — on by default, as DL-B ran it — the F0 is predicted
   from the content, so ``transpose`` has little effect), then ``change_rms``
   (``voice.sovits.loudness_match``);
3. emit the converted sentence at the model's rate, same duration as the input
   (the face stage resamples to its own rate).

The model is loaded once in ``load()`` and stays loaded between turns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.media.audio import as_mono_float32, fit_length, peak_limit, resample

from ..messages import AudioChunk, Message
from ..settings import SOVITS_F0_DEFAULT, SovitsSettings
from ..stage import Stage, TurnContext
from ..stage_env import StageEnv
from .f0_estimate import F0_METHODS, F0Estimator

LOG = logging.getLogger(__name__)
PAD_SECONDS = 0.2  # silence around each voiced stretch (the fork's CLI uses 0.5 s)
MIN_SECONDS = 0.06  # shorter input is returned as silence: nothing to convert
HUBERT_RATE = 16000
RUNTIMES = ("auto", "torch", "onnx")


class SovitsVoice:
    """A loaded so-vits-svc model + ContentVec encoder; ``convert`` is the whole conversion.

    One voiced stretch goes through the steps of so-vits-svc 4.1's ``Svc.infer``
    (``infer_chunk``): F0 at the model rate (shifted by ``transpose``), ContentVec units of
    the 16 kHz audio stretched to the F0 frames (``unit_interpolate_mode``), the optional
    cluster blend, the frame volume (``vol_embedding`` models), the generator (with
    ``auto_predict_f0`` the F0 the decoder gets is predicted from the content), and
    ``change_rms`` when ``loudness_match`` > 0.
    """

    def __init__(
        self,
        model_dir: str | Path,
        contentvec: str | Path,
        checkpoint: str = "",
        cluster_model: str = "",
        device: str = "cpu",
        load_networks: bool = True,
    ) -> None:
        import torch

        from . import sovits_compat
        from .contentvec import (
            resolve_contentvec,
        )
        from .sovits_loader import (
            SovitsModelError,
            check_compatible,
            find_model,
            load_cluster_model,
            load_generator_state,
            model_spec,
            read_config,
        )

        self.files = find_model(model_dir, checkpoint, cluster_model)
        self.config = read_config(self.files.config)
        resolve_contentvec(contentvec)  # a clear error before anything heavy is loaded
        state = load_generator_state(self.files.checkpoint)
        sovits_compat.import_fork()
        self.device = torch.device(device)
        check_compatible(self.config, state, self.files)
        self.spec = model_spec(self.config, state)
        self.net = None
        self.hubert = None
        if load_networks:
            self.load_networks(contentvec, state)
        del state
        self.cluster = load_cluster_model(files_cluster) if (files_cluster := self.files.cluster) else None
        ssl_dim = int(self.config["model"]["ssl_dim"])
        if self.cluster is not None:
            for spk, km in self.cluster.items():
                if km.cluster_centers_.shape[1] != ssl_dim:
                    raise SovitsModelError(
                        f"{self.files.cluster}: the kmeans centres of {spk!r} are "
                        f"{km.cluster_centers_.shape[1]}-dim but the model's units are {ssl_dim}-dim "
                        "(ssl_dim): use the cluster model trained for this model"
                    )
        self.sample_rate = int(self.config["data"]["sampling_rate"])
        self.hop = int(self.config["data"]["hop_length"])
        self.speakers = dict(sorted(self.config["spk"].items(), key=lambda kv: kv[1]))
        self._lock = threading.Lock()
        self._resamplers: dict[tuple[int, int], Any] = {}
        self.f0 = F0Estimator(self.sample_rate, self.hop, self.spec.family, str(self.device))
        self.last_f0: np.ndarray | None = None  # the F0 the decoder received for the last voiced stretch

    def load_networks(self, contentvec: str | Path, state=None) -> None:
        """The PyTorch generator and ContentVec encoder (the ONNX runtime skips them when its exports are cached)."""
        from .contentvec import ContentVecError, content_dim, load_contentvec, trim_to_layer
        from .sovits_loader import _quiet, build_generator, load_generator_state

        if state is None:
            state = load_generator_state(self.files.checkpoint)
        self.net = build_generator(self.config, state, self.files, self.spec).to(self.device)
        with _quiet():
            self.hubert = load_contentvec(contentvec, device=self.device, final_proj=self.spec.final_proj)
        trim_to_layer(self.hubert, self.spec.content_layer)  # the layers after the units' one are never used
        ssl_dim = int(self.config["model"]["ssl_dim"])
        dim = content_dim(self.hubert, self.spec.final_proj)
        if dim != ssl_dim:
            raise ContentVecError(
                f"the ContentVec encoder at {contentvec} gives {dim}-dim units for "
                f"{self.spec.speech_encoder} but {self.files.config.name} says ssl_dim {ssl_dim}: "
                "use the encoder the model was trained with (checkpoint_best_legacy_500.pt)"
            )

    # -- settings checks ---------------------------------------------------------
    def speaker_name(self, speaker: str = "") -> str:
        if not speaker:
            return next(iter(self.speakers))
        if speaker in self.speakers:
            return speaker
        raise ValueError(
            f"speaker {speaker!r} is not in {self.files.config} (voice.sovits.speaker); known: {', '.join(self.speakers)}"
        )

    def check_cluster(self, speaker: str, ratio: float) -> None:
        if ratio <= 0:
            return
        if self.cluster is None:
            raise ValueError(
                f"voice.sovits.cluster_ratio is {ratio} but there is no cluster model: set "
                f"voice.sovits.cluster_model or put kmeans_*.pt into {self.files.checkpoint.parent}"
            )
        if speaker not in self.cluster:
            raise ValueError(f"the cluster model has no speaker {speaker!r} (has: {', '.join(self.cluster)})")

    # -- the steps ---------------------------------------------------------------
    def _resample(self, x, sr_in: int, sr_out: int):
        from . import sovits_compat

        sovits_compat.ensure_torchaudio()
        import torchaudio

        key = (sr_in, sr_out)
        if key not in self._resamplers:
            self._resamplers[key] = torchaudio.transforms.Resample(sr_in, sr_out).to(self.device)
        return self._resamplers[key](x)

    def f0_uv(self, audio: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
        """F0 per hop at the model rate, unvoiced frames interpolated, and the voiced flags."""
        return self.f0.f0_uv(audio, method)

    def noise_shape(self):
        """The sizes of the generator's random draws (for the ONNX graph's inputs)."""
        from .sovits_onnx.export import NoiseShape

        return NoiseShape.of(self.net)

    def _units(self, wav16k):
        """ContentVec units (1, D, frames) of 16 kHz audio (1, N) (the ONNX runtime overrides this)."""
        from .contentvec import content_units

        return content_units(self.hubert, wav16k, self.spec.content_layer, self.spec.final_proj)

    def _generate(self, c, f0, uv, sid: int, predict_f0: bool, noise_scale: float, vol):
        """(audio (1, 1, T·hop), F0 the decoder received (1, T)): the generator (ONNX overrides this)."""
        import torch

        g = torch.LongTensor([sid]).to(self.device)[None]
        return self.net.infer(c, f0=f0, g=g, uv=uv, predict_f0=predict_f0, noice_scale=noise_scale, vol=vol)

    def infer_chunk(
        self,
        audio: np.ndarray,
        speaker: str,
        transpose: float = 0,
        f0_method: str = SOVITS_F0_DEFAULT,
        noise_scale: float = 0.4,
        cluster_ratio: float = 0.0,
        auto_predict_f0: bool = True,
        loudness_match: float = 0.0,
    ):
        """(converted audio, F0 the decoder received) for one stretch at the model rate (4.1's ``Svc.infer``)."""
        import torch

        from .sovits_models import change_rms, repeat_expand_2d, volume_of

        f0, uv = self.f0_uv(audio, f0_method)
        f0_t = torch.from_numpy(f0).to(self.device)[None] * 2 ** (float(transpose) / 12)
        uv_t = torch.from_numpy(uv).to(self.device)[None]
        wav = torch.from_numpy(np.asarray(audio, dtype=np.float32)).to(self.device)
        wav16k = self._resample(wav[None], self.sample_rate, HUBERT_RATE)
        c = self._units(wav16k)
        c = repeat_expand_2d(c[0], f0_t.shape[1], self.spec.interpolate)
        if cluster_ratio > 0:
            centres = self.cluster[speaker]
            idx = centres.predict(c.cpu().numpy().T)
            cluster_c = torch.from_numpy(centres.cluster_centers_[idx].T).to(self.device)
            c = cluster_ratio * cluster_c + (1 - cluster_ratio) * c
        vol = volume_of(wav[None], self.hop)[None] if self.spec.vol_embedding else None
        out, f0_used = self._generate(
            c[None].float(), f0_t, uv_t, int(self.speakers[speaker]), bool(auto_predict_f0), float(noise_scale), vol
        )
        y = out[0, 0].float()
        if loudness_match > 0:
            y = change_rms(
                np.asarray(audio, dtype=np.float32), self.sample_rate, y, self.sample_rate, 1.0 - float(loudness_match)
            )
        return y.cpu().numpy(), f0_used[0].float().cpu().numpy()

    # -- conversion --------------------------------------------------------------
    def convert(
        self,
        samples: np.ndarray,
        sample_rate: int,
        *,
        speaker: str = "",
        transpose: float = 0,
        f0_method: str = SOVITS_F0_DEFAULT,
        noise_scale: float = 0.4,
        cluster_ratio: float = 0.0,
        auto_predict_f0: bool = True,
        loudness_match: float = 0.0,
        limit: bool = True,
    ) -> np.ndarray:
        """Converted float32 audio at ``self.sample_rate``, as long as the input (``limit``: scaled
        down to peak 0.99; else clipped there, as windows of one sentence need the same gain)."""
        if f0_method not in F0_METHODS:
            raise ValueError(f"voice.sovits.f0_method must be one of {', '.join(F0_METHODS)}, got {f0_method!r}")
        name = self.speaker_name(speaker)
        self.check_cluster(name, cluster_ratio)
        x = as_mono_float32(samples)
        x = resample(x, int(sample_rate), self.sample_rate)
        n = len(x)
        if n < MIN_SECONDS * self.sample_rate or float(np.max(np.abs(x), initial=0.0)) < 1e-4:
            return np.zeros(n, dtype=np.float32)
        import torch
        from so_vits_svc_fork.f0 import f0_min
        from so_vits_svc_fork.inference.core import split_silence

        sr = self.sample_rate
        frame = int(min(sr / f0_min * 20 + 1, 0.5 * sr)) // 2
        pieces = []
        with self._lock, torch.inference_mode():
            for chunk in split_silence(
                x, top_db=40, frame_length=frame * 2, hop_length=frame, ref=np.max, max_chunk_length=int(40 * sr)
            ):
                if not chunk.is_speech:
                    pieces.append(np.zeros_like(chunk.audio))
                    continue
                pad = np.zeros(int(sr * PAD_SECONDS), dtype=np.float32)
                y, f0_used = self.infer_chunk(
                    np.concatenate([pad, chunk.audio, pad]),
                    name,
                    transpose,
                    f0_method,
                    noise_scale,
                    cluster_ratio,
                    auto_predict_f0,
                    loudness_match,
                )
                self.last_f0 = f0_used
                cut = (len(y) - len(chunk.audio)) // 2
                pieces.append(y[cut : cut + len(chunk.audio)])
        y = np.concatenate(pieces)[:n] if pieces else np.zeros(n, np.float32)
        y = np.nan_to_num(np.asarray(y, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        y = fit_length(y, n)
        return peak_limit(y) if limit else np.clip(y, -0.99, 0.99)


def voice_from_settings(v: SovitsSettings, env: StageEnv | None = None, persona=None) -> SovitsVoice:
    """A ``SovitsVoice`` from the ``voice.sovits`` section (paths resolved from the repository root):
    ONNX Runtime or PyTorch (``voice.sovits.runtime``)."""
    from .contentvec import ContentVecError

    env = env or StageEnv()
    if not v.contentvec_dir:
        raise ContentVecError(
            "voice.sovits.contentvec_dir is empty: the sovits backend needs the ContentVec encoder "
            "from a local folder (content-vec-best, or DL-B's hubert/checkpoint_best_legacy_500.pt)"
        )
    model_dir = env.resolve(v.model_dir) if v.model_dir else ""
    kwargs = dict(
        checkpoint=v.checkpoint,
        cluster_model=str(env.resolve(v.cluster_model)) if v.cluster_model else "",
    )
    if runtime_for(v, env) == "onnx":
        from .sovits_onnx.runtime import OnnxSovitsVoice

        return OnnxSovitsVoice(
            model_dir,
            env.resolve(v.contentvec_dir),
            **kwargs,
            int8=bool(v.int8),
            predict_f0=bool(v.auto_predict_f0),
            threads=int(v.threads),
            persona=persona,
            log=lambda line: LOG.warning("%s", line),
        )
    return SovitsVoice(model_dir, env.resolve(v.contentvec_dir), **kwargs, device=env.device)


def runtime_for(v: SovitsSettings, env: StageEnv) -> str:
    """``torch`` or ``onnx`` for ``voice.sovits.runtime`` (auto: onnx on the CPU when onnxruntime is there)."""
    import importlib.util

    choice = v.runtime
    if choice not in RUNTIMES:
        raise ValueError(f"voice.sovits.runtime must be one of {', '.join(RUNTIMES)}, got {choice!r}")
    if choice == "onnx" and env.device != "cpu":
        raise ValueError(
            "voice.sovits.runtime onnx runs on the CPU: set device cpu, or voice.sovits.runtime torch/auto"
        )
    if choice == "auto":
        return "onnx" if env.device == "cpu" and importlib.util.find_spec("onnxruntime") is not None else "torch"
    return choice


class SovitsConversion(Stage):
    """``vc`` backend ``sovits``: each ``AudioChunk`` converted sentence by sentence."""

    name = "vc"
    backend = "sovits"

    settings_section = "voice.sovits"

    def __init__(self, cfg: SovitsSettings, persona, env: StageEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or StageEnv()
        self.persona = persona
        self.voice: SovitsVoice | None = None
        self._turn_started: int | None = None  # the turn whose first sentence has been converted

    def options(self) -> dict[str, Any]:
        v = self.cfg
        return {
            "speaker": v.speaker,
            "transpose": v.transpose,
            "f0_method": v.f0_method,
            "noise_scale": v.noise_scale,
            "cluster_ratio": v.cluster_ratio,
            "auto_predict_f0": v.auto_predict_f0,
            "loudness_match": v.loudness_match,
        }

    def load(self) -> None:
        if self.voice is None:
            self.voice = voice_from_settings(self.cfg, self.env, self.persona)
        opts = self.options()
        self.voice.speaker_name(opts["speaker"])  # wrong settings fail at start, not mid-turn
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
        first = self._turn_started != msg.turn_id
        self._turn_started = msg.turn_id
        v = self.cfg
        if first and v.first_window_s > 0 and msg.duration > v.first_window_s + v.window_overlap_s:
            yield from self._windowed(msg)
            return
        out = self.voice.convert(msg.samples, msg.sample_rate, **self.options())
        yield AudioChunk(
            msg.turn_id,
            samples=out,
            sample_rate=self.voice.sample_rate,
            text=msg.text,
            phonemes=msg.phonemes,
        )  # conversion keeps the timing

    def _windowed(self, msg: AudioChunk) -> Iterator[AudioChunk]:
        """The first sentence in short crossfaded windows, each sent on as soon as it is converted."""
        from .sovits_windows import window_hop, windowed

        voice = self.voice
        sr = voice.sample_rate
        x = resample(as_mono_float32(msg.samples), int(msg.sample_rate), sr)
        v = self.cfg
        hop, overlap = window_hop(sr, v.first_window_s, v.window_overlap_s)
        opts = self.options()
        times = [float(t) for t, _ in msg.phonemes]
        for i, (start, y) in enumerate(windowed(x, lambda w: voice.convert(w, sr, limit=False, **opts), hop, overlap)):
            t0, t1 = start / sr, (start + len(y)) / sr
            phon = tuple((t - t0, p) for (t, p), tt in zip(msg.phonemes, times) if t0 <= tt < t1)
            yield AudioChunk(msg.turn_id, samples=y, sample_rate=sr, text=msg.text if i == 0 else "", phonemes=phon)

    def end_turn(self, ctx: TurnContext):
        self._turn_started = None
        return super().end_turn(ctx)

    def cancel_turn(self, turn_id: int) -> None:
        self._turn_started = None

    def close(self) -> None:
        self.voice = None

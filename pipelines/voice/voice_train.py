"""Training a so-vits-svc voice from recordings (``python -m pipelines voice-train``).

Steps (each one reports what it did):

1. ``check_clips``: at least ``MIN_CLIPS`` readable clips; each one's sample
   rate, clipping, silence and length are checked, and the total duration is
   compared with what a usable voice needs (advice printed, unusable clips left out);
2. ``prepare``: trim, peak-normalise, resample to the model rate, cut clips
   longer than ``MAX_CLIP_SECONDS``; ``config.json`` written (``tiny`` or
   ``full`` size; the ContentVec unit size is read from the encoder);
3. ``extract_features``: ContentVec units (local folder only), F0 (the fork's
   estimators), linear and mel spectrograms, one ``.features/NNN.data.pt`` per piece;
4. ``train``: the fork's generator and discriminator with its losses, in a
   plain loop (progress per epoch, a checkpoint every ``save_every`` epochs and
   at the end or on Ctrl-C; run again to resume from the newest ``G_/D_`` pair).

The output folder is what the ``sovits`` backend loads (``config.json`` + ``G_<epoch>.pth``).
A new voice is built in ``<out>.partial`` and renamed to ``<out>`` when its first
checkpoint exists; afterwards every file is replaced atomically (temp + rename),
so a crash never leaves a half-written checkpoint or config.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic_files import atomic_path, atomic_write_text

MIN_CLIPS = 5
MIN_SAMPLE_RATE = 16000
MIN_CLIP_SECONDS = 0.5
MAX_CLIP_SECONDS = 15.0
CLIP_FRACTION_LIMIT = 0.001  # share of samples at full scale above which a clip counts as clipped
SILENCE_DBFS = -50.0  # a clip whose RMS is below this is silence
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif")


class VoiceTrainError(RuntimeError):
    """The clips or the output folder cannot make a voice; the message says what to do."""


# -- 1. clips --------------------------------------------------------------------
@dataclass
class ClipInfo:
    path: Path
    sample_rate: int = 0
    seconds: float = 0.0
    clipped_fraction: float = 0.0
    rms_dbfs: float = -math.inf
    problems: list[str] = field(default_factory=list)  # the clip is left out
    warnings: list[str] = field(default_factory=list)  # used, but worth fixing

    @property
    def usable(self) -> bool:
        return not self.problems


@dataclass
class ClipReport:
    clips: list[ClipInfo]
    advice: list[str]

    @property
    def usable(self) -> list[ClipInfo]:
        return [c for c in self.clips if c.usable]

    @property
    def total_seconds(self) -> float:
        return sum(c.seconds for c in self.usable)

    def lines(self) -> list[str]:
        out = [f"{len(self.usable)} of {len(self.clips)} clips usable, {self.total_seconds / 60:.1f} min in total"]
        for c in self.clips:
            for p in c.problems:
                out.append(f"  left out {c.path.name}: {p}")
            for w in c.warnings:
                out.append(f"  warning  {c.path.name}: {w}")
        out += [f"advice: {a}" for a in self.advice]
        return out


def _read_audio(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return data.mean(axis=1), int(sr)
    except Exception:
        import librosa  # compressed formats soundfile cannot read

        y, sr = librosa.load(str(path), sr=None, mono=True)
        return y.astype(np.float32), int(sr)


def check_clips(clips_dir: str | Path, model_rate: int = 44100) -> ClipReport:
    """Check every audio file in ``clips_dir``; raises ``VoiceTrainError`` when fewer than
    ``MIN_CLIPS`` are usable."""
    root = Path(clips_dir)
    if not root.is_dir():
        raise VoiceTrainError(f"clips folder not found: {root} (--clips): put the recordings (wav/flac) there")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    infos: list[ClipInfo] = []
    for path in files:
        info = ClipInfo(path)
        infos.append(info)
        try:
            y, sr = _read_audio(path)
        except Exception as exc:
            info.problems.append(f"unreadable ({type(exc).__name__}: {exc})")
            continue
        info.sample_rate, info.seconds = sr, len(y) / float(sr) if sr else 0.0
        if sr < MIN_SAMPLE_RATE:
            info.problems.append(f"sample rate {sr} Hz is below {MIN_SAMPLE_RATE} Hz: record again at 44.1 or 48 kHz")
        elif sr < model_rate:
            info.warnings.append(
                f"sample rate {sr} Hz is below the model's {model_rate} Hz: it is upsampled "
                "and the voice will sound dull above {sr // 2} Hz".replace("{sr // 2}", str(sr // 2))
            )
        if len(y) == 0:
            info.problems.append("empty file")
            continue
        peak_share = float(np.mean(np.abs(y) >= 0.999))
        info.clipped_fraction = peak_share
        if peak_share > CLIP_FRACTION_LIMIT:
            info.warnings.append(f"clipped ({peak_share * 100:.2f}% of samples at full scale): record with less gain")
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
        info.rms_dbfs = 20 * math.log10(rms) if rms > 0 else -math.inf
        if info.rms_dbfs < SILENCE_DBFS:
            info.problems.append(f"silent (RMS {info.rms_dbfs:.0f} dBFS)")
        if info.seconds < MIN_CLIP_SECONDS:
            info.problems.append(f"too short ({info.seconds:.2f} s < {MIN_CLIP_SECONDS} s)")
    report = ClipReport(infos, [])
    n, total = len(report.usable), report.total_seconds
    if n < MIN_CLIPS:
        listed = "\n  ".join(report.lines())
        raise VoiceTrainError(
            f"found {n} usable clip{'s' if n != 1 else ''} in {root}; at least {MIN_CLIPS} are "
            f"needed (one speaker, clean speech, 5-15 s each, wav or flac).\n  {listed}"
        )
    if total < 60:
        report.advice.append(
            f"only {total:.0f} s of speech: enough to test the tool, not for a convincing voice; "
            "10-30 minutes of clean speech are recommended"
        )
    elif total < 600:
        report.advice.append(f"{total / 60:.1f} min of speech: usable, more (10-30 min) gives a clearer voice")
    if any(c.seconds > MAX_CLIP_SECONDS for c in report.usable):
        report.advice.append(f"clips longer than {MAX_CLIP_SECONDS:.0f} s are cut into pieces")
    return report


# -- 2. config -------------------------------------------------------------------
def make_config(
    size: str,
    ssl_dim: int,
    final_proj: bool,
    speaker: str,
    sample_rate: int | None = None,
    batch_size: int = 4,
    epochs: int = 100,
    layout: str = "fork",
) -> dict[str, Any]:
    """A so-vits-svc 4.x config (``full`` sizes as the templates; ``tiny`` for tests / CPU trials).

    ``layout`` ``4.1``: the keys of so-vits-svc 4.1's ``configs_template/config_template.json``
    (``speech_encoder`` vec768l12, or vec256l9 for 256-dim units), readable by its own tools;
    ``fork``: so-vits-svc-fork's 4.0v1 format (``contentvec_final_proj``, ``type_``)."""
    if layout == "4.1":
        return _config_41(size, ssl_dim, final_proj, speaker, sample_rate, batch_size, epochs)
    if layout != "fork":
        raise VoiceTrainError(f"unknown config layout {layout!r} (4.1, fork)")
    if size == "full":
        sr = sample_rate or 44100
        data = dict(
            sampling_rate=sr,
            filter_length=2048,
            hop_length=512,
            win_length=2048,
            n_mel_channels=80,
            mel_fmin=0.0,
            mel_fmax=sr // 2,
        )
        model = dict(
            inter_channels=192,
            hidden_channels=192,
            filter_channels=768,
            n_heads=2,
            n_layers=6,
            kernel_size=3,
            p_dropout=0.1,
            resblock="1",
            resblock_kernel_sizes=[3, 7, 11],
            resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            upsample_rates=[8, 8, 2, 2, 2],
            upsample_initial_channel=512,
            upsample_kernel_sizes=[16, 16, 4, 4, 4],
            n_layers_q=3,
            use_spectral_norm=False,
            gin_channels=256,
            n_speakers=200,
        )
        segment = 10240
    elif size == "tiny":
        sr = sample_rate or 16000
        data = dict(
            sampling_rate=sr,
            filter_length=512,
            hop_length=160,
            win_length=512,
            n_mel_channels=40,
            mel_fmin=0.0,
            mel_fmax=sr // 2,
        )
        model = dict(
            inter_channels=16,
            hidden_channels=16,
            filter_channels=32,
            n_heads=2,
            n_layers=1,
            kernel_size=3,
            p_dropout=0.1,
            resblock="2",
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3]],
            upsample_rates=[8, 5, 4],
            upsample_initial_channel=32,
            upsample_kernel_sizes=[16, 15, 8],
            n_layers_q=1,
            use_spectral_norm=False,
            gin_channels=16,
            n_speakers=4,
        )
        segment = 160 * 16
    else:
        raise VoiceTrainError(f"unknown model size {size!r} (tiny, full)")
    if int(np.prod(model["upsample_rates"])) != data["hop_length"]:
        raise VoiceTrainError("internal: upsample rates must multiply to the hop length")
    data.update(max_wav_value=32768.0, contentvec_final_proj=bool(final_proj))
    model.update(ssl_dim=int(ssl_dim), type_="hifi-gan", sampling_rate=sr)
    train = dict(
        discriminator="tiny" if size == "tiny" else "full",
        seed=1234,
        epochs=int(epochs),
        learning_rate=1e-4,
        betas=[0.8, 0.99],
        eps=1e-9,
        batch_size=int(batch_size),
        fp16_run=False,
        lr_decay=0.999875,
        segment_size=segment,
        c_mel=45,
        c_kl=1.0,
        keep_ckpts=3,
        log_interval=200,
        eval_interval=800,
    )
    return {"train": train, "data": data, "model": model, "spk": {speaker: 0}}


def _config_41(
    size: str, ssl_dim: int, final_proj: bool, speaker: str, sample_rate: int | None, batch_size: int, epochs: int
) -> dict[str, Any]:
    base = make_config(size, ssl_dim, final_proj, speaker, sample_rate, batch_size, epochs, layout="fork")
    sr = base["data"]["sampling_rate"]
    train = {
        "log_interval": 200,
        "eval_interval": 800,
        "seed": 1234,
        "epochs": int(epochs),
        "learning_rate": 0.0001,
        "betas": [0.8, 0.99],
        "eps": 1e-09,
        "batch_size": int(batch_size),
        "fp16_run": False,
        "half_type": "fp16",
        "lr_decay": 0.999875,
        "segment_size": base["train"]["segment_size"],
        "init_lr_ratio": 1,
        "warmup_epochs": 0,
        "c_mel": 45,
        "c_kl": 1.0,
        "use_sr": True,
        "max_speclen": 512,
        "port": "8001",
        "keep_ckpts": 3,
        "all_in_mem": False,
        "vol_aug": False,
    }
    if size == "tiny":
        train["discriminator"] = "tiny"  # this trainer's small discriminator (the original ignores the key)
    d = base["data"]
    data = {
        "training_files": "filelists/train.txt",
        "validation_files": "filelists/val.txt",
        "max_wav_value": 32768.0,
        "sampling_rate": sr,
        "filter_length": d["filter_length"],
        "hop_length": d["hop_length"],
        "win_length": d["win_length"],
        "n_mel_channels": d["n_mel_channels"],
        "mel_fmin": 0.0,
        "mel_fmax": sr // 2,
        "unit_interpolate_mode": "nearest",
    }
    m = base["model"]
    model = {
        k: m[k]
        for k in (
            "inter_channels",
            "hidden_channels",
            "filter_channels",
            "n_heads",
            "n_layers",
            "kernel_size",
            "p_dropout",
            "resblock",
            "resblock_kernel_sizes",
            "resblock_dilation_sizes",
            "upsample_rates",
            "upsample_initial_channel",
            "upsample_kernel_sizes",
            "n_layers_q",
        )
    }
    model.update(
        {
            "n_layers_trans_flow": 3,
            "n_flow_layer": 4,
            "use_spectral_norm": False,
            "gin_channels": m["gin_channels"],
            "ssl_dim": int(ssl_dim),
            "n_speakers": m["n_speakers"],
            "vocoder_name": "nsf-hifigan",
            "speech_encoder": "vec256l9" if final_proj else "vec768l12",
            "speaker_embedding": False,
            "vol_embedding": False,
            "use_depthwise_conv": False,
            "flow_share_parameter": False,
            "use_automatic_f0_prediction": True,
            "use_transformer_flow": False,
        }
    )
    return {"train": train, "data": data, "model": model, "spk": {speaker: 0}}


def uses_final_proj(config: dict[str, Any]) -> bool:
    """Whether a config's units go through ContentVec's final_proj (256-dim ``vec256l9`` / 4.0 legacy)."""
    enc = config["model"].get("speech_encoder")
    if enc is not None:
        return enc == "vec256l9"
    return bool(config["data"].get("contentvec_final_proj", True))


def build_discriminator(size: str, use_spectral_norm: bool = False):
    """The fork's multi-period discriminator; for ``tiny`` the same structure with 1/16 of the
    channels (the full one has 47 M parameters and would dominate a tiny model's training time)."""
    from so_vits_svc_fork.modules.descriminators import (
        DiscriminatorP,
        DiscriminatorS,
        MultiPeriodDiscriminator,
    )

    if size != "tiny":
        return MultiPeriodDiscriminator(use_spectral_norm)
    import torch.nn as nn
    from torch.nn.utils import spectral_norm, weight_norm

    norm = spectral_norm if use_spectral_norm else weight_norm

    class SmallP(DiscriminatorP):
        def __init__(self, period: int):
            nn.Module.__init__(self)
            self.period, self.use_spectral_norm = period, use_spectral_norm
            ch = [1, 8, 16, 32, 64, 64]
            self.convs = nn.ModuleList(
                norm(nn.Conv2d(ch[i], ch[i + 1], (5, 1), (3 if i < 4 else 1, 1), padding=(2, 0))) for i in range(5)
            )
            self.conv_post = norm(nn.Conv2d(64, 1, (3, 1), 1, padding=(1, 0)))

    class SmallS(DiscriminatorS):
        def __init__(self):
            nn.Module.__init__(self)
            self.convs = nn.ModuleList(
                [
                    norm(nn.Conv1d(1, 8, 15, 1, padding=7)),
                    norm(nn.Conv1d(8, 16, 41, 4, groups=4, padding=20)),
                    norm(nn.Conv1d(16, 32, 41, 4, groups=8, padding=20)),
                    norm(nn.Conv1d(32, 64, 5, 1, padding=2)),
                ]
            )
            self.conv_post = norm(nn.Conv1d(64, 1, 3, 1, padding=1))

    class SmallMPD(MultiPeriodDiscriminator):
        def __init__(self):
            nn.Module.__init__(self)
            self.discriminators = nn.ModuleList([SmallS()] + [SmallP(p) for p in (2, 3, 5, 7, 11)])

    return SmallMPD()


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# -- 3. features -------------------------------------------------------------------
def prepare_audio(y: np.ndarray, sr: int, target_sr: int) -> list[np.ndarray]:
    """Trimmed, peak-normalised audio at ``target_sr``, cut into pieces of at most MAX_CLIP_SECONDS."""
    import librosa

    from pipelines.media.audio import resample

    y, _ = librosa.effects.trim(y, top_db=35)
    y = resample(y, sr, target_sr)
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak > 0:
        y = (y / peak * 0.95).astype(np.float32)
    max_len = int(MAX_CLIP_SECONDS * target_sr)
    n_pieces = max(1, math.ceil(len(y) / max_len))
    size = math.ceil(len(y) / n_pieces)
    return [y[i : i + size] for i in range(0, len(y), size) if len(y[i : i + size]) >= MIN_CLIP_SECONDS * target_sr]


def extract_features(
    audio: np.ndarray, hps, content_model, f0_method: str, spk_id: int, device: str = "cpu"
) -> dict[str, Any]:
    """The training record of one piece: content, f0, uv, spec, mel_spec, audio, spk."""
    import so_vits_svc_fork.f0 as f0_mod
    import torch
    from so_vits_svc_fork import utils
    from so_vits_svc_fork.modules.mel_processing import (
        spec_to_mel_torch,
        spectrogram_torch,
    )

    sr, hop = hps.data.sampling_rate, hps.data.hop_length
    f0 = f0_mod.compute_f0(audio, sampling_rate=sr, hop_length=hop, method=f0_method)
    f0, uv = f0_mod.interpolate_f0(f0)
    f0 = torch.from_numpy(np.asarray(f0, dtype=np.float32))
    uv = torch.from_numpy(np.asarray(uv, dtype=np.float32))
    wav = torch.from_numpy(audio).float()
    if hps.model.get("speech_encoder") is not None:  # 4.1 layout: as the original's preprocessing
        from .contentvec import content_units
        from .sovits_compat import ensure_torchaudio
        from .sovits_models import repeat_expand_2d

        ensure_torchaudio()
        import torchaudio

        proj = hps.model.speech_encoder == "vec256l9"
        wav16k = torchaudio.transforms.Resample(sr, 16000)(wav[None]) if sr != 16000 else wav[None]
        with torch.inference_mode():
            c = content_units(content_model, wav16k.to(device), 9 if proj else 12, proj).cpu()
        c = repeat_expand_2d(c.squeeze(0), f0.shape[0], hps.data.get("unit_interpolate_mode") or "left")
    else:
        with torch.inference_mode():
            c = utils.get_content(
                content_model,
                wav.to(device),
                device,
                sr=sr,
                legacy_final_proj=hps.data.get("contentvec_final_proj", True),
            ).cpu()
        c = utils.repeat_expand_2d(c.squeeze(0), f0.shape[0])
    wav2 = wav.unsqueeze(0)
    spec = spectrogram_torch(wav2, hps).squeeze(0)
    mel = spec_to_mel_torch(spec, hps)
    n = min(spec.shape[1], mel.shape[1], f0.shape[0], uv.shape[0], c.shape[1])
    return {
        "spec": spec[:, :n].clone(),
        "mel_spec": mel[:, :n].clone(),
        "f0": f0[:n].clone(),
        "uv": uv[:n].clone(),
        "content": c[:, :n].clone(),
        "audio": wav2.clone(),
        "spk": torch.tensor(spk_id).long(),
    }


# -- 4. training -------------------------------------------------------------------
@dataclass
class TrainOptions:
    clips: Path
    out: Path
    contentvec: Path
    speaker: str = ""
    size: str = "full"
    units: str = "auto"  # "auto" | "vec768" (last layer) | "legacy" (layer 9 + final_proj, 256-d)
    layout: str = "4.1"  # config format: "4.1" (the original's template) | "fork" (so-vits-svc-fork)
    epochs: int = 100
    batch_size: int = 4
    save_every: int = 10
    keep: int = 3
    f0_method: str = "dio"
    device: str = "cpu"
    pretrained: Path | None = None  # folder with G_0.pth / D_0.pth to start from
    seed: int = 1234
    log: Callable[[str], None] = print


@dataclass
class TrainResult:
    out: Path
    checkpoint: Path
    epoch: int
    steps: int
    seconds: float
    losses: dict[str, float]
    report: ClipReport | None = None


def _latest_pair(folder: Path) -> tuple[Path, Path, int] | None:
    from .sovits_loader import list_checkpoints

    for g in reversed(list_checkpoints(folder)):
        step = int(g.stem.split("_")[1])
        d = folder / f"D_{step}.pth"
        if d.is_file() and step > 0:
            return g, d, step
    return None


def _load_into(module, optimizer, path: Path, strict_shapes: bool, log) -> int:
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise VoiceTrainError(f"{path}: not a so-vits checkpoint (no 'model' weights)")
    target = module.state_dict()
    bad = [k for k, v in state.items() if k in target and tuple(v.shape) != tuple(target[k].shape)]
    if bad and strict_shapes:
        raise VoiceTrainError(
            f"{path} does not match the model config ({', '.join(bad[:3])}); resume with the "
            "same --size/--units, or train into a new --out folder"
        )
    if bad:
        log(f"  {path.name}: {len(bad)} tensors differ in shape from this config and start fresh ({bad[0]}, …)")
    module.load_state_dict({**target, **{k: v for k, v in state.items() if k in target and k not in bad}})
    if optimizer is not None and ckpt.get("optimizer") is not None and not bad:
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as exc:
            log(f"  optimizer state of {path.name} not used ({exc})")
    return int(ckpt.get("iteration", 0) or 0)


def _save(module, optimizer, lr: float, epoch: int, path: Path) -> None:
    import torch

    payload = {
        "model": module.state_dict(),
        "iteration": int(epoch),
        "optimizer": optimizer.state_dict(),
        "learning_rate": float(lr),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _prune(folder: Path, keep: int, log) -> None:
    from .sovits_loader import list_checkpoints

    if keep <= 0:
        return
    gs = [g for g in list_checkpoints(folder) if g.name != "G_0.pth"]
    for g in gs[:-keep]:
        for p in (g, folder / g.name.replace("G_", "D_")):
            if p.exists():
                p.unlink()
    if len(gs) > keep:
        log(f"  kept the newest {keep} checkpoints")


def train_voice(opts: TrainOptions) -> TrainResult:
    """Run steps 1-4; returns where the voice is.  Raises ``VoiceTrainError`` for bad input."""
    import torch

    from . import sovits_compat
    from .contentvec import load_contentvec, resolve_contentvec

    log = opts.log
    t_start = time.perf_counter()
    out = Path(opts.out)
    speaker = opts.speaker or out.name
    resolve_contentvec(opts.contentvec)
    from ..output_paths import OutputPathError, check_out_folder

    try:
        check_out_folder(out, "--out")
    except OutputPathError as exc:
        raise VoiceTrainError(str(exc)) from None
    partial = out.with_name(out.name + ".partial")
    if out.exists() and not (out / "config.json").is_file():
        if any(out.iterdir()):
            raise VoiceTrainError(
                f"{out} exists and is not a so-vits voice folder (no config.json): choose a new "
                "--out folder; nothing there was changed"
            )
        out.rmdir()
    work = out if out.is_dir() else partial
    resuming = (work / "config.json").is_file()

    # 1. clips
    if resuming:
        try:
            config = json.loads((work / "config.json").read_text(encoding="utf-8"))
            speaker = next(iter(config["spk"]))
        except (ValueError, KeyError, StopIteration) as exc:
            raise VoiceTrainError(
                f"{work / 'config.json'} is damaged ({exc}): restore it, or train into a new --out folder"
            ) from exc
        log(f"resuming the voice in {work} (speaker {speaker!r})")
    model_rate = config["data"]["sampling_rate"] if resuming else (16000 if opts.size == "tiny" else 44100)
    report = check_clips(opts.clips, model_rate)
    for line in report.lines():
        log(line)
    work.mkdir(parents=True, exist_ok=True)  # only once the clips can make a voice

    # 2. encoder + config
    sovits_compat.import_fork()  # torchaudio stand-in + offline patches before the fork loads
    from so_vits_svc_fork.hparams import HParams

    if opts.units not in ("auto", "vec768", "legacy"):
        raise VoiceTrainError(f"--units must be auto, vec768 or legacy, got {opts.units!r}")
    legacy = opts.units == "legacy"
    if opts.units == "auto" and opts.pretrained is not None and (opts.pretrained / "G_0.pth").is_file():
        pre = torch.load(opts.pretrained / "G_0.pth", map_location="cpu", weights_only=True).get("model", {})
        legacy = "pre.weight" in pre and pre["pre.weight"].shape[1] == 256
    if resuming:
        legacy = uses_final_proj(config)
    device = opts.device
    content_model = load_contentvec(opts.contentvec, device=device, final_proj=legacy)
    ssl_dim = content_model.config.classifier_proj_size if legacy else content_model.config.hidden_size
    if not resuming:
        config = make_config(
            opts.size, ssl_dim, legacy, speaker, batch_size=opts.batch_size, epochs=opts.epochs, layout=opts.layout
        )
        write_json(work / "config.json", config)
    elif config["model"]["ssl_dim"] != ssl_dim:
        raise VoiceTrainError(
            f"{out}/config.json expects {config['model']['ssl_dim']}-dim ContentVec units, the "
            f"encoder at {opts.contentvec} gives {ssl_dim}: use the encoder the voice was started with"
        )
    hps = HParams(**config)
    sr = hps.data.sampling_rate

    # 3. features (cached per source file; rebuilt when the clips change)
    feat_dir = work / ".features"
    feat_dir.mkdir(exist_ok=True)
    manifest_path = feat_dir / "manifest.json"
    signature = {c.path.name + f":{c.path.stat().st_size}:{int(c.path.stat().st_mtime)}" for c in report.usable}
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if set(old.get("clips", [])) == signature and old.get("f0_method") == opts.f0_method and old.get("files"):
        records = [feat_dir / f for f in old["files"]]
        log(f"features: {len(records)} pieces reused from {feat_dir}")
    else:
        for f in feat_dir.glob("*.data.pt"):
            f.unlink()
        records = []
        t0 = time.perf_counter()
        for i, clip in enumerate(report.usable):
            y, clip_sr = _read_audio(clip.path)
            for piece in prepare_audio(y, clip_sr, sr):
                rec = extract_features(piece, hps, content_model, opts.f0_method, 0, device)
                path = feat_dir / f"{len(records):05d}.data.pt"
                with atomic_path(path) as tmp:
                    torch.save(rec, tmp)
                records.append(path)
            log(f"features: {i + 1}/{len(report.usable)} clips ({time.perf_counter() - t0:.1f} s)")
        write_json(
            manifest_path, {"clips": sorted(signature), "f0_method": opts.f0_method, "files": [p.name for p in records]}
        )
    if not records:
        raise VoiceTrainError("no usable audio remained after trimming silence: check the clips")
    del content_model

    # 4. model, optimisers, resume
    import torch.nn.functional as F
    from so_vits_svc_fork.dataset import TextAudioCollate
    from so_vits_svc_fork.modules import commons
    from so_vits_svc_fork.modules.losses import (
        discriminator_loss,
        feature_loss,
        generator_loss,
        kl_loss,
    )
    from so_vits_svc_fork.modules.mel_processing import mel_spectrogram_torch
    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

    from .sovits_loader import fork_generator_kwargs

    torch.manual_seed(opts.seed)
    random.seed(opts.seed)
    net_g = SynthesizerTrn(
        hps.data.filter_length // 2 + 1, hps.train.segment_size // hps.data.hop_length, **fork_generator_kwargs(config)
    ).to(device)
    net_d = build_discriminator(config["train"].get("discriminator", "full"), hps.model.use_spectral_norm).to(device)
    lr = hps.train.learning_rate
    optim_g = torch.optim.AdamW(net_g.parameters(), lr, betas=hps.train.betas, eps=hps.train.eps)
    optim_d = torch.optim.AdamW(net_d.parameters(), lr, betas=hps.train.betas, eps=hps.train.eps)
    start_epoch = 0
    latest = _latest_pair(work)
    if latest is not None:
        g_path, d_path, _ = latest
        start_epoch = _load_into(net_g, optim_g, g_path, True, log)
        _load_into(net_d, optim_d, d_path, True, log)
        log(f"resumed from {g_path.name} (epoch {start_epoch})")
    elif opts.pretrained is not None:
        for name, net in (("G_0.pth", net_g), ("D_0.pth", net_d)):
            p = Path(opts.pretrained) / name
            if not p.is_file():
                raise VoiceTrainError(f"--pretrained {opts.pretrained}: {name} not found")
            _load_into(net, None, p, False, log)
        log(f"starting from the pretrained model in {opts.pretrained}")
    else:
        log(
            "starting from random weights (no --pretrained G_0.pth/D_0.pth): expect many epochs before it "
            "sounds like speech"
        )
    sched_g = torch.optim.lr_scheduler.ExponentialLR(optim_g, gamma=hps.train.lr_decay, last_epoch=-1)
    sched_d = torch.optim.lr_scheduler.ExponentialLR(optim_d, gamma=hps.train.lr_decay, last_epoch=-1)
    for g in (optim_g, optim_d):
        for group in g.param_groups:
            group["lr"] = lr * hps.train.lr_decay**start_epoch
    collate = TextAudioCollate()
    batch_size = max(1, min(int(opts.batch_size), len(records)))
    segment_frames = hps.train.segment_size // hps.data.hop_length
    data = [torch.load(p, map_location="cpu", weights_only=True) for p in records]

    def batches():
        order = list(range(len(data)))
        random.shuffle(order)
        for i in range(0, len(order), batch_size):
            yield [
                x.to(device) if torch.is_tensor(x) else x for x in collate([data[j] for j in order[i : i + batch_size]])
            ]

    steps = 0
    losses: dict[str, float] = {}
    epoch = start_epoch
    saved: Path | None = None
    if start_epoch >= opts.epochs:
        log(f"already trained for {start_epoch} epochs (--epochs {opts.epochs}): raise --epochs to continue")
    n_batches = math.ceil(len(data) / batch_size)
    try:
        for epoch in range(start_epoch + 1, opts.epochs + 1):
            t_epoch = time.perf_counter()
            net_g.train()
            net_d.train()
            sums: dict[str, float] = {}
            for c, f0, spec, mel, y, g, lengths, uv in batches():
                y_hat, _, ids_slice, z_mask, (z, z_p, m_p, logs_p, m_q, logs_q), pred_lf0, _, lf0 = net_g(
                    c, f0, uv, spec, g=g, c_lengths=lengths, spec_lengths=lengths
                )
                y_mel = commons.slice_segments(mel, ids_slice, segment_frames)
                y_hat_mel = mel_spectrogram_torch(y_hat.squeeze(1), hps)
                y_mel = y_mel[..., : y_hat_mel.shape[-1]]
                y = commons.slice_segments(y, ids_slice * hps.data.hop_length, hps.train.segment_size)
                y = y[..., : y_hat.shape[-1]]
                # discriminator
                y_d_r, y_d_g, _, _ = net_d(y, y_hat.detach())
                loss_d, _, _ = discriminator_loss(y_d_r, y_d_g)
                optim_d.zero_grad()
                loss_d.backward()
                optim_d.step()
                # generator
                y_d_r, y_d_g, fmap_r, fmap_g = net_d(y, y_hat)
                loss_mel = F.l1_loss(y_mel, y_hat_mel) * hps.train.c_mel
                loss_kl = kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * hps.train.c_kl
                loss_fm = feature_loss(fmap_r, fmap_g)
                loss_gen, _ = generator_loss(y_d_g)
                loss_lf0 = F.mse_loss(pred_lf0, lf0)
                loss_g = loss_gen + loss_fm + loss_mel + loss_kl + loss_lf0
                optim_g.zero_grad()
                loss_g.backward()
                optim_g.step()
                steps += 1
                for k, v in (("g", loss_g), ("d", loss_d), ("mel", loss_mel), ("kl", loss_kl), ("lf0", loss_lf0)):
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
            sched_g.step()
            sched_d.step()
            losses = {k: v / n_batches for k, v in sums.items()}
            dt = time.perf_counter() - t_epoch
            left = (opts.epochs - epoch) * dt
            log(
                f"epoch {epoch}/{opts.epochs}  {n_batches} steps  loss g {losses['g']:.3f} d {losses['d']:.3f} "
                f"mel {losses['mel']:.3f}  {dt:.1f} s/epoch  ~{left / 60:.1f} min left"
            )
            if epoch % max(1, opts.save_every) == 0 or epoch == opts.epochs:
                saved = _checkpoint(
                    net_g, optim_g, net_d, optim_d, optim_g.param_groups[0]["lr"], epoch, work, opts, log
                )
    except KeyboardInterrupt:
        done = epoch - 1
        if done > start_epoch:
            log(f"interrupted: saving epoch {done} so the next run resumes there")
            saved = _checkpoint(net_g, optim_g, net_d, optim_d, optim_g.param_groups[0]["lr"], done, work, opts, log)
            epoch = done
        else:
            log("interrupted before an epoch finished: nothing saved")
        _publish(work, out, log)
        raise
    if saved is None:
        latest = _latest_pair(work)
        saved = latest[0] if latest else None
    if saved is None:
        saved = _checkpoint(net_g, optim_g, net_d, optim_d, optim_g.param_groups[0]["lr"], epoch, work, opts, log)
    final = _publish(work, out, log)
    checkpoint = final / saved.name
    log(
        f"voice ready: {final} ({checkpoint.name}); use it with --set voice.vc_backend=sovits "
        f"--set voice.sovits.model_dir={final} --set voice.sovits.contentvec_dir={opts.contentvec}"
    )
    return TrainResult(final, checkpoint, epoch, steps, time.perf_counter() - t_start, losses, report)


def _checkpoint(net_g, optim_g, net_d, optim_d, lr, epoch, work: Path, opts: TrainOptions, log) -> Path:
    g_path, d_path = work / f"G_{epoch}.pth", work / f"D_{epoch}.pth"
    _save(net_d, optim_d, lr, epoch, d_path)  # D first: a G without its D is never the newest pair
    _save(net_g, optim_g, lr, epoch, g_path)
    log(f"  saved {g_path.name}")
    _prune(work, opts.keep, log)
    return g_path


def _publish(work: Path, out: Path, log) -> Path:
    """Rename ``<out>.partial`` to ``<out>`` once it holds a checkpoint (atomic on one filesystem)."""
    from .sovits_loader import list_checkpoints

    if work == out or not list_checkpoints(work):
        return work
    os.replace(work, out)
    log(f"  published {out}")
    return out


def remove_partial(out: Path) -> None:
    """Forget an unfinished ``<out>.partial`` (never touches ``<out>`` itself)."""
    partial = out.with_name(out.name + ".partial")
    if partial.is_dir():
        shutil.rmtree(partial)

"""Training data for the personal lip-sync model, from clips of the persona speaking.

For each clip (1-5 minutes is the useful range):

* its audio (PyAV decodes it; a clip without an audio track is refused);
* its frames, face boxes and landmarks from the enrollment code (``build_avatar``:
  25 fps, rotation applied, one person, faces found on nearly every frame);
* face crops of ``crop`` pixels (the enrolled Wav2Lip box resized, so the
  generated face pastes back through the same ``Compositor`` as Wav2Lip's);
* the Wav2Lip mel window of every frame (``wav2lip/mel.py``, nothing to download)
  and its loudness, which marks the silent frames.

The last ``val_share`` of the frames (inside the last clip) is held out for
validation; the first silent seconds of the first clip are counted as idle frames
(they stay in the training set: the model learns the closed mouth from them).
``PreparedData.report`` says how much is usable and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipelines.face.wav2lip import mel as melmod

FPS = 25.0
SPEECH_DB = -45.0  # frames quieter than this (dBFS RMS) are silent
MIN_SPEECH_SHARE = 0.2  # at least this share of the frames must carry speech
MOUTH_TOP = 0.5  # rows of the crop from this fraction down are blacked out in the input

Progress = Callable[[str, float], None]


class LipsyncDataError(ValueError):
    """Clips that cannot train a lip-sync model (the message says why and what to do)."""


@dataclass
class PreparedData:
    crops: np.ndarray  # (N, S, S, 3) uint8 RGB
    windows: np.ndarray  # (N, 80, 16) float32 mel windows, or (N, D, 16) ContentVec ones (features.py)
    level_db: np.ndarray  # (N,) float32 loudness of each frame's audio
    clip_id: np.ndarray  # (N,) int32 which clip each frame comes from
    train_idx: np.ndarray
    val_idx: np.ndarray
    crop: int
    fps: float = FPS
    report: dict = field(default_factory=dict)
    #: the held-out tail as an avatar (frames, boxes, landmarks) and its audio, for quality checks
    tail: object = None
    tail_audio: tuple[np.ndarray, int] | None = None
    #: the first silent frames of the first clip as an avatar (None when it starts with speech)
    idle: object = None
    audio_features: str = "mel"

    @property
    def silent(self) -> np.ndarray:
        return self.level_db < SPEECH_DB


def read_clip_audio(path: str | Path, sample_rate: int = melmod.SAMPLE_RATE) -> np.ndarray | None:
    """The clip's audio as mono float32 at ``sample_rate``; None when it has no audio track."""
    from pipelines.optional import require

    av = require("av", "av", "reading the audio of clips")
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        res = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        parts = []
        for frame in container.decode(stream):
            for out in res.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
        for out in res.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def face_crops(frames: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """frames[i][y1:y2, x1:x2] resized to ``size`` x ``size`` (what the compositor pastes back)."""
    import cv2

    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.int64)):
        out[i] = cv2.resize(np.asarray(frames[i][y1:y2, x1:x2]), (size, size), interpolation=cv2.INTER_AREA)
    return out


def to_input(crops: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """``(B,S,S,3)`` uint8 current crops + references -> ``(B,6,S,S)`` float32 network input
    (RGB / 255; the current crop's lower part blacked out)."""
    crops, refs = np.asarray(crops), np.asarray(refs)
    s = crops.shape[1]
    out = np.empty((len(crops), 6, s, s), np.float32)
    scale = np.float32(1.0 / 255.0)
    np.multiply(crops.transpose(0, 3, 1, 2), scale, out=out[:, :3], casting="unsafe")
    np.multiply(refs.transpose(0, 3, 1, 2), scale, out=out[:, 3:], casting="unsafe")
    out[:, :3, int(MOUTH_TOP * s) :] = 0.0
    return out


def to_rgb(pred: np.ndarray) -> np.ndarray:
    """``(B,3,S,S)`` in [0,1] -> ``(B,S,S,3)`` uint8 RGB."""
    x = np.asarray(pred, np.float32).transpose(0, 2, 3, 1)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def mouth_weights(size: int) -> np.ndarray:
    """``(S, S)`` float32: 1 on the mouth region of a crop (lower half, centre), 0 elsewhere."""
    w = np.zeros((size, size), np.float32)
    w[int(0.55 * size) : int(0.95 * size), int(0.22 * size) : int(0.78 * size)] = 1.0
    return w


def audio_windows(samples16k: np.ndarray, n: int, fps: float = FPS, features=None) -> tuple[np.ndarray, np.ndarray]:
    """(windows (n, 80, 16) mel or ``features``' own, loudness (n,) dBFS) of 16 kHz audio under ``n`` frames."""
    audio = np.zeros(int(round(n * melmod.SAMPLE_RATE / fps)), np.float32)
    m = min(len(audio), len(samples16k))
    audio[:m] = samples16k[:m]
    if features is None:
        windows = melmod.mel_windows(melmod.melspectrogram(audio), n, fps)
    else:
        windows = features.windows(audio, n, fps)
    level = melmod.frame_rms_db(audio, melmod.SAMPLE_RATE, n, fps)
    return windows, level


def _check_audio(path: Path, audio: np.ndarray | None, min_seconds: float) -> tuple[float, float]:
    if audio is None or len(audio) == 0:
        raise LipsyncDataError(
            f"{path}: the clip has no sound track; record the persona speaking, with the sound, and give that clip"
        )
    n = int(len(audio) / melmod.SAMPLE_RATE * FPS)
    level = melmod.frame_rms_db(audio, melmod.SAMPLE_RATE, n, FPS)
    share = float(np.mean(level >= SPEECH_DB)) if n else 0.0
    if share < MIN_SPEECH_SHARE:
        raise LipsyncDataError(
            f"{path}: no speech heard (sound above {SPEECH_DB:.0f} dBFS on {share:.0%} of the clip, "
            f"at least {MIN_SPEECH_SHARE:.0%} needed); give a clip of the persona talking, with its sound"
        )
    return len(audio) / melmod.SAMPLE_RATE, share


def leading_silence(level_db: np.ndarray) -> int:
    """Frames before the first speech frame."""
    loud = np.flatnonzero(np.asarray(level_db) >= SPEECH_DB)
    return int(loud[0]) if len(loud) else len(level_db)


def prepare(
    clips: Sequence[str | Path],
    crop: int = 128,
    min_seconds: float = 60.0,
    val_share: float = 0.1,
    max_side: int = 720,
    progress: Progress | None = None,
    features=None,
) -> PreparedData:
    """Read, check and crop the clips; raises ``LipsyncDataError`` with one clear line when unusable.

    ``features``: a ``features.py`` maker (``ContentVecFeatures``) for windows other than the mel ones.
    """
    from pipelines.face.avatar.enroll import EnrollmentError, build_avatar
    from pipelines.face.avatar.video_io import ClipError, check_clip_file, is_image

    t0 = time.perf_counter()
    say = progress or (lambda msg, frac: None)
    paths = [Path(c) for c in clips]
    if not paths:
        raise LipsyncDataError("no clips given: pass 1-5 minutes of video of the persona speaking (MP4 with sound)")
    audios, per_clip = [], []
    for p in paths:
        try:
            check_clip_file(p)
        except ClipError as exc:
            raise LipsyncDataError(str(exc)) from None
        if is_image(p):
            raise LipsyncDataError(f"{p} is a still image: lip-sync training needs video of the persona speaking")
        try:
            audio = read_clip_audio(p)
        except Exception as exc:
            raise LipsyncDataError(f"{p}: cannot decode its sound ({exc}); export it again as MP4 (H.264 + AAC)")
        seconds, share = _check_audio(p, audio, min_seconds)
        audios.append(audio)
        per_clip.append({"clip": str(p), "seconds": round(seconds, 2), "speech_share": round(share, 3)})
    total = sum(c["seconds"] for c in per_clip)
    if total < min_seconds:
        raise LipsyncDataError(
            f"only {total:.1f} s of video given, at least {min_seconds:.0f} s needed (1-5 minutes of the persona "
            f"speaking trains well): give more or longer clips"
        )
    crops, windows, levels, ids, tail, idle_av = [], [], [], [], None, None
    for k, (p, audio) in enumerate(zip(paths, audios)):
        base = k / len(paths)

        def sub(msg, frac, base=base):
            say(msg, base + frac / len(paths))

        try:
            avatar, report = build_avatar([p], sub, fps=FPS, max_side=max_side)
        except (EnrollmentError, ClipError) as exc:
            raise LipsyncDataError(str(exc)) from None
        n = len(avatar)
        w, lv = audio_windows(audio, n, features=features)
        crops.append(face_crops(avatar.frames, avatar.boxes, crop))
        windows.append(w)
        levels.append(lv)
        ids.append(np.full(n, k, np.int32))
        per_clip[k].update(frames=n, face_share=report.get("face_share"), advice=report.get("advice", []))
        if k == 0:
            idle_av = _slice_avatar(avatar, 0, leading_silence(lv), f"idle start of {p.name}")
        if k == len(paths) - 1:
            tail = (avatar, audio)
    kind = getattr(features, "kind", "mel")
    say(f"{kind} windows and crops ready", 1.0)
    level_db = np.concatenate(levels)
    n_all = len(level_db)
    last_start = n_all - len(levels[-1])
    n_val = max(1, int(round(val_share * n_all)))
    n_val = min(n_val, len(levels[-1]) - 1)
    val_idx = np.arange(n_all - n_val, n_all)
    train_idx = np.arange(0, n_all - n_val)
    idle = leading_silence(levels[0])
    avatar, audio = tail
    t_from = n_all - n_val - last_start
    tail_av = _slice_avatar(avatar, t_from, len(avatar), f"held-out tail of {paths[-1].name}")
    a0 = int(round(t_from * melmod.SAMPLE_RATE / FPS))
    speech = level_db >= SPEECH_DB
    report = {
        "clips": per_clip,
        "frames": n_all,
        "seconds": round(n_all / FPS, 2),
        "speech_seconds": round(float(speech.sum()) / FPS, 2),
        "train_frames": int(len(train_idx)),
        "val_frames": int(len(val_idx)),
        "idle_frames": idle,
        "crop": int(crop),
        "audio_features": kind,
        "prepare_s": round(time.perf_counter() - t0, 2),
        "advice": [a for c in per_clip for a in c.get("advice", [])],
    }
    if total < 60.0:
        report["advice"].append(f"{total:.0f} s of video: 1-5 minutes gives a better mouth")
    return PreparedData(
        crops=np.concatenate(crops),
        windows=np.concatenate(windows),
        level_db=level_db,
        clip_id=np.concatenate(ids),
        train_idx=train_idx,
        val_idx=val_idx,
        crop=int(crop),
        report=report,
        tail=tail_av,
        tail_audio=(audio[a0:], melmod.SAMPLE_RATE),
        idle=idle_av,
        audio_features=kind,
    )


def _slice_avatar(avatar, start: int, end: int, source: str):
    """Frames ``start:end`` of an avatar as an avatar of their own (None when fewer than 2)."""
    from pipelines.face.avatar.storage import Avatar, make_crops

    if end - start < 2:
        return None
    frames = np.asarray(avatar.frames[start:end])
    return Avatar(
        frames=frames,
        boxes=avatar.boxes[start:end],
        landmarks=avatar.landmarks[start:end],
        crops=make_crops(frames, avatar.boxes[start:end]),
        fps=FPS,
        source=source,
    )


def report_lines(report: dict) -> list[str]:
    lines = [
        f"{report['seconds']:.1f} s of video ({report['frames']} frames), speech on {report['speech_seconds']:.1f} s; "
        f"{report['train_frames']} frames to train, {report['val_frames']} held out (the tail), "
        f"{report['idle_frames']} idle frames at the start"
    ]
    for c in report["clips"]:
        lines.append(f"  {Path(c['clip']).name}: {c['seconds']:.1f} s, speech {c['speech_share']:.0%}")
    lines += [f"  advice: {a}" for a in report.get("advice", [])]
    return lines

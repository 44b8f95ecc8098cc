"""Enroll a face once, so chat time needs no detection.

``enroll(name_or_folder, clips)`` reads 5–10 s clips (any fps, rotation and
resolution; or a single portrait image), normalises them to 25 fps, finds the
face on every frame (mediapipe face detection on a reduced copy of the frame,
and the 478-point face mesh in tracking mode), fills short detection gaps,
pads the box like Wav2Lip (bottom padding for the chin), smooths the boxes over
time, cuts 96×96 crops, writes a quality report, and saves everything into the
persona's ``avatar/`` folder atomically.  A clip with no face, or with too many
faceless frames, is refused with a message naming the clip and the frames, and
nothing already enrolled is touched.

``progress(message, fraction)`` (optional) is called as the work advances, for
the GUI's progress bar.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipelines.face.avatar import landmarks as lmk
from pipelines.face.avatar.storage import (
    PADS,
    Avatar,
    file_sha1,
    make_crops,
    save_avatar,
)
from pipelines.face.avatar.video_io import (
    Clip,
    ClipError,
    check_clip_file,
    is_image,
    iter_clip,
    read_clip,
)
from pipelines.paths import SOURCE_DIR

DEFAULT_PERSONAS = SOURCE_DIR

FPS = 25.0
MAX_SIDE = 720  # frames are kept with the longer side at most this
DETECT_SIDE = 320  # face detection runs on a copy this large
MAX_FACELESS = 0.10  # refuse a clip with more than this share of frames without a face
SMOOTH_FRAMES = 5  # box centre smoothing window (Wav2Lip: mean over 5 frames)
SIZE_SMOOTH_FRAMES = 11  # the box size changes slowly: a longer window keeps it from breathing
MIN_SECONDS, MAX_SECONDS = 5.0, 10.0  # advised clip length
KEEP_SECONDS = 20.0  # longer clips are cut here

Progress = Callable[[str, float], None]


class EnrollmentError(ValueError):
    """The clips cannot be enrolled; the message says which clip, which frames and what to do."""


@dataclass
class ClipFaces:
    boxes: np.ndarray  # (N, 4) float32 raw detection boxes (NaN where none)
    landmarks: np.ndarray  # (N, 478, 2) float32 (NaN where none)
    found: np.ndarray  # (N,) bool: a face was found on the frame
    counts: np.ndarray | None = None  # (N,) faces the detector saw on each frame (the largest is taken)


# -- per-frame detection ---------------------------------------------------------------
class FaceTracker:
    """Face box (detector, on a reduced copy) and 478-point mesh (tracking mode) frame by frame."""

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self.model: int | None = None
        self.boxes: list[np.ndarray] = []
        self.marks: list[np.ndarray] = []
        self.counts: list[int] = []
        #: set once the face proved too small for the whole-frame mesh: mesh on crops from then on
        self.crop_mesh = False
        if not static:
            lmk.reset_tracking()

    def add(self, img: np.ndarray) -> bool:
        import cv2

        img = np.ascontiguousarray(img)
        h, w = img.shape[:2]
        scale = min(1.0, DETECT_SIDE / max(h, w))
        small = (
            cv2.resize(
                img, (max(1, int(round(w * scale))), max(1, int(round(h * scale)))), interpolation=cv2.INTER_LINEAR
            )
            if scale < 1
            else img
        )
        det = None
        found = []
        if self.model is None:
            for sel in (0, 1):  # short-range model first, the full-range model for far faces
                found = lmk.detect_faces(small, sel)
                if found:
                    self.model = sel
                    break
        else:
            found = lmk.detect_faces(small, self.model)
        if found:  # several people: the largest face (the one in front), as the mesh takes
            det = max(found, key=lambda d: float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))
        self.counts.append(len(found))
        box = det.box / scale if det is not None else np.full(4, np.nan, np.float32)
        if det is None and scale < 1:
            # a small face vanishes in the reduced copy: retry at full resolution, full-range first
            for sel in (1, 0):
                found = lmk.detect_faces(img, sel)
                if found:
                    box = found[0].box.astype(np.float32)
                    if self.model is None:
                        self.model = sel
                    break
        pts = None if self.crop_mesh else lmk.face_mesh(img, static=self.static)
        if pts is None and not np.isnan(box[0]):
            # the mesh's own detector misses small faces: run it on an enlarged crop around the box
            pts = mesh_in_box(img, box)
            if pts is not None:
                self.crop_mesh = True  # keep to crops for this clip (tracking mode would jump)
        if pts is None:
            pts = np.full((lmk.N_LANDMARKS, 2), np.nan, np.float32)
        self.boxes.append(box.astype(np.float32))
        self.marks.append(pts)
        return not np.isnan(pts[0, 0])

    def result(self) -> ClipFaces:
        if not self.static:
            lmk.reset_tracking()
        boxes = np.stack(self.boxes) if self.boxes else np.zeros((0, 4), np.float32)
        marks = np.stack(self.marks) if self.marks else np.zeros((0, lmk.N_LANDMARKS, 2), np.float32)
        # a frame has a face when the mesh found one
        found = ~np.isnan(marks[:, 0, 0])
        has_box = ~np.isnan(boxes[:, 0])
        miss = ~has_box & found
        if miss.any():
            # the detector missed a face the mesh tracked: a box from the landmarks, using the
            # median box-vs-mesh relation of this clip
            lb = np.concatenate([marks.min(1), marks.max(1)], 1)
            both = found & has_box
            if both.any():
                size = lb[both, 2:] - lb[both, :2]
                rel = np.median((boxes[both] - lb[both]) / np.concatenate([size, size], 1), 0)
            else:
                rel = np.array([-0.05, -0.05, 0.05, 0.02], np.float32)
            size = lb[miss, 2:] - lb[miss, :2]
            boxes[miss] = lb[miss] + rel * np.concatenate([size, size], 1)
        return ClipFaces(boxes=boxes, landmarks=marks, found=found, counts=np.asarray(self.counts, np.int32))


MESH_CROP_SIDE = 256


def mesh_in_box(img: np.ndarray, box: np.ndarray, context: float = 2.2) -> np.ndarray | None:
    """478-point mesh of the face in ``box`` (x1, y1, x2, y2), found on a square crop
    ``context`` times the box, resized to ``MESH_CROP_SIDE`` px; in ``img`` coordinates."""
    import cv2

    h, w = img.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1], 4.0) * context / 2
    x0, y0 = int(np.floor(cx - half)), int(np.floor(cy - half))
    side = int(np.ceil(2 * half))
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    src = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else img
    crop = src[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    if crop.shape[0] < 4 or crop.shape[1] < 4:
        return None
    k = MESH_CROP_SIDE / side
    big = cv2.resize(crop, (MESH_CROP_SIDE, MESH_CROP_SIDE), interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    pts = lmk.face_mesh(np.ascontiguousarray(big), static=True)
    if pts is None:
        return None
    return (pts / k + (x0, y0)).astype(np.float32)


def detect_clip(
    frames: np.ndarray, progress: Progress | None = None, label: str = "", base: float = 0.0, span: float = 1.0
) -> ClipFaces:
    """Face box and mesh for every frame of one clip (already in memory)."""
    n = len(frames)
    tracker = FaceTracker(static=n == 1)
    for i in range(n):
        tracker.add(frames[i])
        if progress and (i % 10 == 0 or i == n - 1):
            progress(f"finding the face in {label}: frame {i + 1}/{n}", base + span * (i + 1) / n)
    return tracker.result()


_END = object()


def _read_and_track(
    path: Path, fps: float, max_side: int, size: tuple[int, int] | None, progress: Progress, base: float, span: float
) -> tuple[Clip, ClipFaces]:
    """Decode in a thread while the face is tracked here (the two overlap on two cores)."""
    info: dict = {}
    q: queue.Queue = queue.Queue(maxsize=24)
    stop = threading.Event()

    def reader() -> None:
        try:
            for f in iter_clip(path, fps=fps, max_side=max_side, max_seconds=KEEP_SECONDS, info=info):
                while not stop.is_set():
                    try:
                        q.put(f, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    th = threading.Thread(target=reader, name=f"enroll-read-{path.name}", daemon=True)
    th.start()
    frames: list[np.ndarray] = []
    tracker = FaceTracker(static=False)
    try:
        while True:
            item = q.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                if isinstance(item, ClipError):
                    raise EnrollmentError(str(item)) from item
                raise item
            if size is not None:
                item = _conform(item[None], size)[0]
            frames.append(item)
            tracker.add(item)
            i = len(frames)
            if i % 10 == 1:
                total = max(info.get("expected_frames", i), i)
                progress(f"finding the face in {path.name}: frame {i}/{total}", base + span * min(i / total, 1.0))
    finally:
        stop.set()
        th.join(timeout=5)
    clip = Clip(frames=np.stack(frames), fps=float(fps), path=str(path), info=info)
    return clip, tracker.result()


def _ranges(idx: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive runs of frame numbers as (first, last)."""
    out: list[tuple[int, int]] = []
    for i in idx.tolist():
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def describe_frames(idx: np.ndarray, fps: float, limit: int = 6) -> str:
    parts = []
    for a, b in _ranges(idx)[:limit]:
        if a == b:
            parts.append(f"{a} ({a / fps:.2f} s)")
        else:
            parts.append(f"{a}-{b} ({a / fps:.2f}-{(b + 1) / fps:.2f} s)")
    more = len(_ranges(idx)) - limit
    return ", ".join(parts) + (f" and {more} more stretches" if more > 0 else "")


def _fill_gaps(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linear interpolation of rows where ``found`` is False (nearest at the ends)."""
    if found.all():
        return values
    flat = values.reshape(len(values), -1).copy()
    t = np.arange(len(values))
    good = np.flatnonzero(found)
    for c in range(flat.shape[1]):
        flat[~found, c] = np.interp(t[~found], good, flat[good, c])
    return flat.reshape(values.shape)


def smooth_boxes(boxes: np.ndarray, window: int = SMOOTH_FRAMES) -> np.ndarray:
    """Mean over a centred window of ``window`` frames (shrinking at the ends)."""
    n = len(boxes)
    if n < 2 or window < 2:
        return boxes.copy()
    half = window // 2
    c = np.cumsum(np.vstack([np.zeros((1, 4)), boxes.astype(np.float64)]), 0)
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return ((c[hi] - c[lo]) / (hi - lo)[:, None]).astype(np.float32)


def wav2lip_boxes(
    raw: np.ndarray,
    width: int,
    height: int,
    pads=PADS,
    window: int = SMOOTH_FRAMES,
    size_window: int = SIZE_SMOOTH_FRAMES,
) -> np.ndarray:
    """Pad like Wav2Lip ([top, bottom, left, right]), clip to the frame, smooth over time.

    The centre is averaged over ``window`` frames (Wav2Lip's 5), the width and
    height over ``size_window`` frames, so the box follows the head without its
    size jittering from frame to frame.
    """
    top, bottom, left, right = pads
    b = raw.astype(np.float32).copy()
    b[:, 0] = np.maximum(0, b[:, 0] - left)
    b[:, 1] = np.maximum(0, b[:, 1] - top)
    b[:, 2] = np.minimum(width, b[:, 2] + right)
    b[:, 3] = np.minimum(height, b[:, 3] + bottom)
    centre = smooth_boxes(np.concatenate([(b[:, :2] + b[:, 2:]) / 2] * 2, 1), window)[:, :2]
    half = smooth_boxes(np.concatenate([(b[:, 2:] - b[:, :2]) / 2] * 2, 1), size_window)[:, :2]
    b = np.concatenate([centre - half, centre + half], 1)
    out = np.round(b).astype(np.int32)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0] + 1)
    out[:, 3] = np.maximum(out[:, 3], out[:, 1] + 1)
    return out


# -- quality -----------------------------------------------------------------------
def clip_quality(clip: Clip, faces: ClipFaces, boxes: np.ndarray) -> dict:
    """Sharpness, head motion, lighting, duration, face size, and advice for one clip."""
    import cv2

    n = len(clip.frames)
    h, w = clip.frames.shape[1:3]
    sample = np.unique(np.linspace(0, n - 1, min(n, 25)).astype(int))
    sharp, luma, balance = [], [], []
    for i in sample:
        x1, y1, x2, y2 = boxes[i]
        face = cv2.cvtColor(np.ascontiguousarray(clip.frames[i][y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
        face = cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA)
        sharp.append(cv2.Laplacian(face, cv2.CV_64F).var())
        luma.append(face.mean())
        balance.append(abs(face[:, :64].mean() - face[:, 64:].mean()))
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    bw = float(np.mean(boxes[:, 2] - boxes[:, 0]))
    bh = float(np.mean(boxes[:, 3] - boxes[:, 1]))
    jumps = np.linalg.norm(np.diff(centers, axis=0), axis=1) / bw if n > 1 else np.zeros(1)
    spread = float(np.linalg.norm(centers.std(0)) / bw) if n > 1 else 0.0
    raw_c = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2.0
    raw_jit = np.nanmedian(np.linalg.norm(np.diff(raw_c, axis=0), axis=1)) / bw if n > 2 else 0.0
    q = {
        "clip": clip.path,
        "kind": clip.info.get("kind"),
        "frames": n,
        "duration_s": round(clip.duration if n > 1 else 0.0, 2),
        "source_fps": clip.info.get("source_fps"),
        "source_size": [clip.info.get("width"), clip.info.get("height")],
        "rotation": clip.info.get("rotation", 0),
        "frame_size": [w, h],
        "face_share": round(float(faces.found.mean()), 4),
        "faceless_frames": np.flatnonzero(~faces.found).tolist(),
        "face_size_px": [round(bw, 1), round(bh, 1)],
        "sharpness": round(float(np.median(sharp)), 1),
        "brightness": round(float(np.mean(luma)), 1),
        "lighting_balance": round(float(np.mean(balance)), 1),
        "head_motion": round(spread, 4),
        "head_jump_p95": round(float(np.percentile(jumps, 95)), 4),
        "box_jitter_raw": round(float(raw_jit), 4),
        "advice": [],
    }
    adv = q["advice"]
    name = Path(clip.path).name
    if clip.info.get("kind") == "video":
        if q["duration_s"] < MIN_SECONDS:
            adv.append(
                f"{name}: only {q['duration_s']:.1f} s; record {MIN_SECONDS:.0f}-{MAX_SECONDS:.0f} s "
                f"so idle motion does not repeat too visibly"
            )
        elif clip.info.get("duration", 0) > MAX_SECONDS + 0.5:
            adv.append(
                f"{name}: {clip.info.get('duration', 0):.1f} s is longer than needed; "
                f"{MIN_SECONDS:.0f}-{MAX_SECONDS:.0f} s is enough"
                + (
                    f" (only the first {KEEP_SECONDS:.0f} s are kept)"
                    if clip.info.get("duration", 0) > KEEP_SECONDS
                    else ""
                )
            )
        if q["head_jump_p95"] > 0.04 or q["head_motion"] > 0.12:
            adv.append(
                f"{name}: the head or camera moves a lot (motion {q['head_motion']:.2f} of the face "
                f"width); hold the camera still and keep the head roughly in place"
            )
    if q["sharpness"] < 40:
        adv.append(
            f"{name}: the face looks blurry (sharpness {q['sharpness']:.0f}); focus on the face, "
            f"use more light or a steadier camera"
        )
    if q["brightness"] < 70:
        adv.append(f"{name}: the face is dark (mean {q['brightness']:.0f}/255); add light from the front")
    elif q["brightness"] > 200:
        adv.append(f"{name}: the face is over-exposed (mean {q['brightness']:.0f}/255); reduce the light")
    if q["lighting_balance"] > 45:
        adv.append(f"{name}: one side of the face is much darker; light the face evenly")
    if bh < 96:
        adv.append(f"{name}: the face is small ({bh:.0f} px tall); move closer so it is at least 96 px")
    return q


# -- building an avatar --------------------------------------------------------------
def _conform(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to cover ``size`` (w, h) and crop the centre, so clips of other shapes fit."""
    import cv2

    w, h = size
    fh, fw = frames.shape[1:3]
    if (fw, fh) == (w, h):
        return frames
    s = max(w / fw, h / fh)
    nw, nh = max(w, int(round(fw * s))), max(h, int(round(fh * s)))
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA)[y0 : y0 + h, x0 : x0 + w] for f in frames])


JUMP_SHIFT = 0.5  # the face centre moving more than this share of its width in one frame: another face
JUMP_SCALE = 1.6  # or its size changing by more than this factor in one frame


def which_face_note(path: Path, faces: ClipFaces, width: int) -> str:
    """Several faces in the picture: which one was taken (the largest), as report advice."""
    if faces.counts is None or not len(faces.counts) or faces.counts.max() < 2:
        return ""
    many = int(faces.counts.max())
    i = int(np.flatnonzero(faces.counts == many)[0])
    b = faces.boxes[i]
    if np.isnan(b[0]):
        return (
            f"{path.name}: {many} faces in the picture; the largest was taken. Crop to one face if it is the wrong one."
        )
    cx = (b[0] + b[2]) / 2 / max(width, 1)
    where = "left" if cx < 0.4 else "right" if cx > 0.6 else "centre"
    return (
        f"{path.name}: {many} faces in the picture; took the largest, on the {where} "
        f"({int(b[2] - b[0])}x{int(b[3] - b[1])} px at x={int(b[0])}, y={int(b[1])}). "
        "If that is the wrong person, crop the picture or clip to one face."
    )


def check_one_person(path: Path, faces: ClipFaces, fps: float) -> None:
    """Refuse a clip whose largest face jumps to another face (another person or place) between frames.

    The test is geometric: the face box centre moving more than ``JUMP_SHIFT`` of
    its width, or its size changing more than ``JUMP_SCALE`` times, from one frame
    to the next (or across a gap of at most 2 frames) is not head motion at 25 fps.
    """
    idx = np.flatnonzero(faces.found & ~np.isnan(faces.boxes[:, 0]))
    if len(idx) < 2:
        return
    b = faces.boxes[idx]
    centre = (b[:, :2] + b[:, 2:]) / 2
    size = np.maximum(b[:, 2] - b[:, 0], 1.0)
    close = np.diff(idx) <= 3
    shift = np.linalg.norm(np.diff(centre, axis=0), axis=1) / np.minimum(size[:-1], size[1:])
    scale = np.maximum(size[1:] / size[:-1], size[:-1] / size[1:])
    jumps = np.flatnonzero(close & ((shift > JUMP_SHIFT) | (scale > JUMP_SCALE)))
    if len(jumps):
        k = int(idx[jumps[0] + 1])
        raise EnrollmentError(
            f"{path}: the face changes at frame {k} ({k / fps:.2f} s): the largest face jumps to another "
            f"face there (another person, or a cut). Enroll clips of one person only; cut the clip at "
            f"{k / fps:.2f} s"
        )


def check_same_identity(path: Path, frames: np.ndarray, faces: ClipFaces, fps: float) -> None:
    """Refuse a clip whose face becomes another person in place (no jump of the box): see ``identity``."""
    from .identity import identity_change

    change = identity_change(frames, faces.landmarks, faces.found, fps)
    if change is not None:
        k, what = change
        raise EnrollmentError(
            f"{path}: the face changes at frame {k} ({k / fps:.2f} s): from there it looks like another "
            f"person ({what} differ from the first second). Enroll clips of one person only; cut the "
            f"clip at {k / fps:.2f} s"
        )


def build_avatar(
    clips: Sequence[str | Path],
    progress: Progress | None = None,
    fps: float = FPS,
    max_side: int = MAX_SIDE,
    pads=PADS,
    box=None,
    nosmooth: bool = False,
) -> tuple[Avatar, dict]:
    """Read, detect, smooth and crop; returns the avatar and its quality report (writes nothing).

    Wav2Lip's own options: ``pads`` (top, bottom, left, right) pixels added to the face box
    (more bottom for a cut-off chin), ``box`` a fixed (top, bottom, left, right) box in the
    clip's pixels instead of detection's, ``nosmooth`` no smoothing of the box over time.
    """
    pads, box = parse_pads(pads), parse_box(box)
    t_start = time.perf_counter()
    clips = [Path(c) for c in clips]
    if not clips:
        raise EnrollmentError("no clips given: pass 5-10 s video clips of the face, or one portrait image")
    images = [c for c in clips if is_image(c)]
    if images and len(clips) > 1:
        raise EnrollmentError(
            f"give either video clips or one portrait image, not both ({', '.join(str(c) for c in images)})"
        )
    report_progress = progress or (lambda msg, frac: None)
    all_frames, all_boxes, all_marks, qualities, hashes = [], [], [], [], []
    size = None
    span = 1.0 / len(clips)
    for k, path in enumerate(clips):
        report_progress(f"reading {path.name}", k * span)
        try:
            check_clip_file(path)
        except ClipError as exc:
            raise EnrollmentError(str(exc)) from None
        hashes.append(file_sha1(path))
        if is_image(path):
            try:
                clip = read_clip(path, fps=fps, max_side=max_side)
            except ClipError as exc:
                raise EnrollmentError(str(exc)) from exc
            faces = detect_clip(clip.frames, progress, path.name, base=k * span + 0.1 * span, span=0.85 * span)
        else:
            clip, faces = _read_and_track(path, fps, max_side, size, report_progress, k * span, 0.95 * span)
        frames = clip.frames
        if size is None:
            size = (frames.shape[2], frames.shape[1])
        n = len(frames)
        missing = np.flatnonzero(~faces.found)
        if len(missing) == n:
            raise EnrollmentError(
                f"{path}: no face found in any of its {n} frames. Record the face from the front, "
                f"well lit, filling a good part of the picture."
            )
        if len(missing) > MAX_FACELESS * n:
            raise EnrollmentError(
                f"{path}: no face on {len(missing)} of {n} frames ({len(missing) / n:.0%}; at most "
                f"{MAX_FACELESS:.0%} allowed): frames {describe_frames(missing, fps)}. "
                f"Trim those parts or record again with the face always in view."
            )
        check_one_person(path, faces, fps)
        if n > 1:
            check_same_identity(path, frames, faces, fps)
        raw = _fill_gaps(faces.boxes, faces.found)
        marks = _fill_gaps(faces.landmarks, faces.found)
        h, w = frames.shape[1:3]
        if box is not None:
            # a fixed box like Wav2Lip's --box (top, bottom, left, right in the clip's own pixels)
            sw = float(clip.info.get("width") or w)
            sh = float(clip.info.get("height") or h)
            if clip.info.get("rotation") in (90, 270):
                sw, sh = sh, sw
            y1, y2, x1, x2 = box
            raw = np.tile(np.array([x1 * w / sw, y1 * h / sh, x2 * w / sw, y2 * h / sh], np.float32), (n, 1))
        window = 1 if nosmooth else SMOOTH_FRAMES
        # as in Wav2Lip, a fixed box is used as given (no pads)
        boxes = wav2lip_boxes(
            raw,
            w,
            h,
            pads=(0, 0, 0, 0) if box is not None else tuple(pads),
            window=window,
            size_window=1 if nosmooth else SIZE_SMOOTH_FRAMES,
        )
        q = clip_quality(clip, faces, boxes)
        note = which_face_note(path, faces, w)
        if note:
            q["advice"].append(note)
            q["faces_in_picture"] = int(faces.counts.max())
        qualities.append(q)
        all_frames.append(frames)
        all_boxes.append(boxes)
        all_marks.append(marks.astype(np.float32))
    report_progress("cutting 96x96 face crops", 0.97)
    frames = np.concatenate(all_frames) if len(all_frames) > 1 else all_frames[0]
    boxes = np.concatenate(all_boxes)
    marks = np.concatenate(all_marks)
    crops = make_crops(frames, boxes)
    kind = "portrait" if images else "clips"
    avatar = Avatar(
        frames=frames,
        boxes=boxes,
        landmarks=marks,
        crops=crops,
        fps=float(fps),
        source=("portrait " if images else "clips ") + ", ".join(c.name for c in clips),
    )
    avatar.validate()
    advice = [a for q in qualities for a in q["advice"]]
    report = {
        "kind": kind,
        "source": avatar.source,
        "source_sha1": hashes,
        "clips": qualities,
        "frames": len(frames),
        "fps": float(fps),
        "duration_s": round(len(frames) / fps, 2) if kind == "clips" else 0.0,
        "frame_size": [int(frames.shape[2]), int(frames.shape[1])],
        "face_share": round(float(np.mean([q["face_share"] for q in qualities])), 4),
        "advice": advice,
        "seconds": round(time.perf_counter() - t_start, 2),
        "options": enroll_options(pads, box, nosmooth, max_side, fps),
    }
    report_progress("face frames ready", 0.98)
    return avatar, report


# -- enrolling into a persona ----------------------------------------------------------
_NAME_RE = re.compile(r"^[\w.-]+$")


def persona_folder(name_or_folder: str | Path, persona_dir: str | Path | None = None) -> Path:
    """A persona name (a folder under ``persona_dir``, default ``source/``) or an existing persona folder.

    A name is a name: no path separators, not only dots, and it must stay inside
    ``persona_dir`` (so ``../escape``, ``x/../../x2``, ``..`` and ``.`` are refused).
    """
    if isinstance(name_or_folder, Path):
        return name_or_folder
    s = str(name_or_folder).strip()
    p = Path(s).expanduser()
    if s.strip(".") and p.is_dir() and (p / "persona.json").is_file():
        return p  # an existing persona folder given by its path
    how = "give a plain name such as 'alice' (a folder under source/) or the path of an existing persona folder"
    if not s:
        raise EnrollmentError(f"empty persona name: {how}")
    if "/" in s or "\\" in s or os.sep in s:
        raise EnrollmentError(
            f"persona name {s!r} contains a path separator and is not an existing persona "
            f"folder (no persona.json there): {how}"
        )
    if s.strip(".") == "":
        raise EnrollmentError(f"persona name {s!r} is only dots: {how}")
    if not _NAME_RE.match(s):
        raise EnrollmentError(f"persona name {s!r}: use letters, digits, '-', '_' or '.' only")
    base = Path(persona_dir) if persona_dir else DEFAULT_PERSONAS
    target = base / s
    try:
        target.resolve().relative_to(base.resolve())
    except ValueError:
        raise EnrollmentError(f"persona name {s!r} points outside {base} (a link?): {how}") from None
    return target


def enroll_options(pads=PADS, box=None, nosmooth: bool = False, max_side: int = MAX_SIDE, fps: float = FPS) -> dict:
    """The options an avatar was enrolled with, normalised (a cached portrait is re-enrolled when they change)."""
    fixed = parse_box(box)
    return {
        "pads": list(parse_pads(pads)),
        "box": list(fixed) if fixed is not None else None,
        "nosmooth": bool(nosmooth),
        "max_side": int(max_side),
        "fps": float(fps),
    }


def parse_pads(value) -> tuple[int, int, int, int]:
    """Wav2Lip pads from '0 10 0 0', '0,10,0,0' or a sequence of 4 ints (top, bottom, left, right)."""
    return _four(value, "pads (top bottom left right)", PADS)


def parse_box(value) -> tuple[int, int, int, int] | None:
    """A fixed face box (top, bottom, left, right) or None for '', None or '-1 -1 -1 -1'."""
    got = _four(value, "box (top bottom left right)", None)
    if got is None or all(v < 0 for v in got):
        return None
    y1, y2, x1, x2 = got
    if y2 <= y1 or x2 <= x1 or min(got) < 0:
        raise EnrollmentError(f"face box {got}: need 0 <= top < bottom and 0 <= left < right (pixels)")
    return got


def _four(value, what: str, default):
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    parts = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    try:
        nums = tuple(int(float(p)) for p in parts)
    except (TypeError, ValueError):
        nums = ()
    if len(nums) != 4:
        raise EnrollmentError(f"{what}: expected 4 whole numbers like '0 10 0 0', got {value!r}")
    return nums


def enroll(
    name_or_folder: str | Path,
    clips: Sequence[str | Path],
    progress: Progress | None = None,
    *,
    persona_dir: str | Path | None = None,
    fps: float = FPS,
    max_side: int = MAX_SIDE,
    pads=PADS,
    box=None,
    nosmooth: bool = False,
) -> dict:
    """Enroll ``clips`` as the face of a persona; returns the quality report.

    The persona folder is created (with a minimal ``persona.json``) when it does
    not exist.  Raises ``EnrollmentError`` without touching anything on disk when
    the clips cannot be used.
    """
    folder = persona_folder(name_or_folder, persona_dir)
    avatar, report = build_avatar(clips, progress, fps=fps, max_side=max_side, pads=pads, box=box, nosmooth=nosmooth)
    if progress:
        progress(f"saving to {folder / 'avatar'}", 0.99)
    report = save_enrollment(folder, avatar, report)
    if progress:
        progress("done", 1.0)
    return report


def save_enrollment(folder: Path, avatar: Avatar, report: dict) -> dict:
    """Save ``avatar`` as the face of the persona in ``folder`` (created with a minimal
    ``persona.json`` if new); the old face stays until the new one is complete."""
    from pipelines.atomic_files import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "persona.json"
    if not meta.exists():
        atomic_write_text(
            meta, json.dumps({"name": folder.name, "display_name": folder.name}, ensure_ascii=False, indent=2) + "\n"
        )
    report = dict(report, avatar_dir=str(folder / "avatar"))
    save_avatar(avatar, folder / "avatar", report)
    return report

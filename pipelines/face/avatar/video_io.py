"""Read face clips and images for enrollment: any fps, rotation, resolution → RGB at 25 fps.

``read_clip`` decodes with PyAV (FFmpeg bundled in the wheel), applies the
display rotation a phone stores in the stream (the display matrix), scales so
the longer side is at most ``max_side`` while decoding (swscale, cheap), and
resamples to a constant ``fps`` by picking, for every output instant, the source
frame shown at that instant (nearest timestamp), so variable-frame-rate phone
clips come out evenly timed.  ``read_image`` reads a still (EXIF orientation
applied).  ``write_clip`` writes an H.264 MP4 (used by tests and benchmarks to
make synthetic clips).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.optional import require

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


class ClipError(ValueError):
    """A clip that cannot be read (missing, not a video, no video stream)."""


@dataclass
class Clip:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB at ``fps``
    fps: float
    path: str
    info: dict = field(default_factory=dict)  # source fps, size, rotation, duration, ...

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _fit(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    """Size scaled so the longer side is at most ``max_side`` (even numbers, for codecs)."""
    if not max_side or max(w, h) <= max_side:
        return w, h
    s = max_side / max(w, h)
    return max(2, int(round(w * s / 2)) * 2), max(2, int(round(h * s / 2)) * 2)


def _rotate(img: np.ndarray, rotation: float) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise, as FFmpeg reports it)."""
    k = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def check_clip_file(p: Path) -> None:
    """A clip path that is a folder, missing or empty: ``ClipError`` saying what to do."""
    if p.is_dir():
        raise ClipError(f"{p} is a folder, not a clip: give the video files themselves (e.g. {p}/*.mp4)")
    if not p.is_file():
        raise ClipError(f"{p}: file not found; check the path")
    if p.stat().st_size == 0:
        raise ClipError(f"{p} is empty (0 bytes): an interrupted copy or recording? copy or record it again")


def unreadable_clip(p: Path, exc: Exception) -> ClipError:
    """Why av could not open ``p``, in words (not an errno)."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(512)
    except OSError:
        head = b""
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if head and printable / len(head) > 0.95:
        return ClipError(f"{p} is a text file, not a video: give an MP4/MOV/WebM clip or a PNG/JPEG portrait")
    return ClipError(
        f"{p} is not a video that can be decoded (damaged, cut short or an unknown format): "
        "export it again as MP4 (H.264)"
    )


def read_image(path: str | Path, max_side: int | None = 1024) -> Clip:
    cv2 = require("cv2", "opencv-python-headless", "reading images")
    p = Path(path)
    if not p.is_file():
        raise ClipError(f"{p}: file not found")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ClipError(f"{p}: not a readable image (PNG, JPEG, BMP, WebP or TIFF expected)")
    h, w = bgr.shape[:2]
    w2, h2 = _fit(w, h, max_side)
    if (w2, h2) != (w, h):
        bgr = cv2.resize(bgr, (w2, h2), interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    return Clip(
        frames=rgb[None],
        fps=25.0,
        path=str(p),
        info={"kind": "image", "width": w, "height": h, "rotation": 0, "source_fps": None, "duration": 0.0},
    )


def _frame_rotation(frame, stream) -> float:
    rot = getattr(frame, "rotation", None)
    if rot:
        return float(rot)
    # older PyAV: the stream's side data / the legacy 'rotate' tag (clockwise degrees)
    tag = (stream.metadata or {}).get("rotate")
    if tag:
        try:
            return -float(tag)
        except ValueError:
            pass
    return 0.0


def read_clip(
    path: str | Path, fps: float = 25.0, max_side: int | None = 720, max_seconds: float | None = None
) -> Clip:
    """Decode a video (or read an image) into RGB frames at a constant ``fps``."""
    p = Path(path)
    if is_image(p):
        return read_image(p, max_side=max(max_side or 0, 1024) if max_side else None)
    info: dict = {}
    frames = list(iter_clip(p, fps, max_side, max_seconds, info))
    return Clip(frames=np.stack(frames), fps=float(fps), path=str(p), info=info)


def iter_clip(
    path: str | Path,
    fps: float = 25.0,
    max_side: int | None = 720,
    max_seconds: float | None = None,
    info: dict | None = None,
):
    """Yield the clip's frames (RGB uint8, upright) at a constant ``fps`` as they are decoded.

    ``info`` (a dict, optional) is filled with the source facts once the clip is read.
    """
    p = Path(path)
    check_clip_file(p)
    av = require("av", "av", "reading video clips")
    try:
        container = av.open(str(p))
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise unreadable_clip(p, exc) from None
    with container:
        if not container.streams.video:
            raise ClipError(f"{p}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        src_fps = float(stream.average_rate) if stream.average_rate else None
        total = None
        if container.duration:
            total = container.duration / 1e6
        elif stream.duration and stream.time_base:
            total = float(stream.duration * stream.time_base)
        if info is not None and total:
            keep = min(total, max_seconds) if max_seconds else total
            info["expected_frames"] = max(1, int(round(keep * fps)))
        step = 1.0 / fps
        n_out = 0
        prev = None  # [time, av frame, converted array or None]
        t0 = None
        rotation = 0.0
        size = None
        n_src = 0

        def convert(entry):
            if entry[2] is None:
                img = entry[1].to_ndarray(format="rgb24", width=size[0], height=size[1])
                entry[2] = _rotate(img, rotation)
            return entry[2]

        decoded = container.decode(stream)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except Exception as exc:
                if prev is None:
                    raise ClipError(f"{p}: could not decode video ({exc})") from exc
                break  # a truncated file: keep what decoded
            if frame.time is None:
                continue
            if t0 is None:
                t0 = frame.time
                rotation = _frame_rotation(frame, stream)
                size = _fit(frame.width, frame.height, max_side)
            t = frame.time - t0
            n_src += 1
            if prev is not None:
                mid = (prev[0] + t) / 2
                while n_out * step < mid and (max_seconds is None or n_out * step < max_seconds):
                    yield convert(prev)
                    n_out += 1
            prev = [t, frame, None]
            if max_seconds is not None and n_out * step >= max_seconds:
                break
        if prev is None:
            raise ClipError(f"{p}: no video frames could be decoded")
        last_dur = 1.0 / src_fps if src_fps else step
        end = prev[0] + last_dur
        if max_seconds is not None:
            end = min(end, max_seconds)
        while n_out * step < end - step / 2 or n_out == 0:
            yield convert(prev)
            n_out += 1
        w, h = size
        disp_w, disp_h = (h, w) if int(round(rotation / 90.0)) % 2 else (w, h)
        if info is not None:
            info.update(
                {
                    "kind": "video",
                    "source_fps": src_fps,
                    "width": stream.width,
                    "height": stream.height,
                    "rotation": rotation,
                    "duration": round(max(prev[0] + last_dur, total or 0.0), 3),
                    "source_frames": n_src,
                    "frame_size": [disp_w, disp_h],
                }
            )


def write_clip(
    path: str | Path,
    frames,
    fps: float = 25.0,
    crf: int = 18,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    rotation: int = 0,
) -> Path:
    """Write RGB frames (an array or an iterable of (H, W, 3) uint8) as H.264 MP4.

    ``rotation`` (0/90/180/270, clockwise, like a phone's 'rotate' tag) is stored
    as display metadata so readers must rotate the frames back.
    """
    av = require("av", "av", "writing video clips")
    from fractions import Fraction

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    it = iter(frames)
    first = next(it)
    h, w = first.shape[:2]
    with av.open(str(p), "w") as out:
        rate = Fraction(fps).limit_denominator(1001)
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        if rotation:
            if hasattr(vs, "set_display_rotation"):  # PyAV >= 17: a real display matrix
                vs.set_display_rotation(-float(rotation))
            else:
                vs.metadata["rotate"] = str(rotation)
        aus = None
        if audio is not None:
            aus = out.add_stream("aac", rate=sample_rate)
            aus.layout = "mono"

        def put(img):
            img = np.ascontiguousarray(img[: vs.height, : vs.width])
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)

        put(first)
        for img in it:
            put(img)
        for pkt in vs.encode():
            out.mux(pkt)
        if aus is not None:
            a = np.asarray(audio, np.float32).reshape(1, -1)
            af = av.AudioFrame.from_ndarray(a, format="flt", layout="mono")
            af.sample_rate = sample_rate
            for pkt in aus.encode(af):
                out.mux(pkt)
            for pkt in aus.encode():
                out.mux(pkt)
    return p

"""An enrolled face: frames, Wav2Lip boxes, face-mesh landmarks and 96×96 crops.

Made once by enrollment (``python -m pipelines enroll``, ``pipelines.face.avatar.enroll``)
and cached in the persona's ``avatar/`` folder, so chat time needs no detection::

    avatar/
      meta.json        version, fps, source, frame count and size, kind, source hash
      report.json      the enrollment quality report
      frames-png.npz   (N, H, W, 3) uint8 RGB frames, each a lossless PNG (``FRAMES_FILE``);
                       folders enrolled before it have frames.npy (memory-mapped when loaded)
      boxes.npy        (N, 4) int32 x1, y1, x2, y2
      landmarks.npy    (N, 478, 2) float32
      crops.npy        (N, 96, 96, 3) uint8 RGB

``save_avatar`` writes a complete new folder beside the old one and swaps it in
by renames, so an old avatar stays until the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.atomic_files import atomic_dir, remove_stale

log = logging.getLogger(__name__)

AVATAR_VERSION = 1
CROP_SIZE = 96
#: Wav2Lip's face-box padding [top, bottom, left, right] in pixels (bottom: the chin)
PADS = (0, 10, 0, 0)
_ARRAYS = ("frames", "boxes", "landmarks", "crops")


class AvatarError(ValueError):
    """An avatar folder that is missing, incomplete or of another version."""


@dataclass
class Avatar:
    frames: np.ndarray  # (N,H,W,3) uint8 RGB at `fps` (N == 1 for a portrait)
    boxes: np.ndarray  # (N,4) int32 x1,y1,x2,y2: Wav2Lip face box (pads [0,10,0,0]), smoothed, clipped
    landmarks: np.ndarray  # (N,478,2) float32 pixel coords from mediapipe face mesh
    crops: np.ndarray  # (N,96,96,3) uint8 RGB: frames[i][y1:y2, x1:x2] resized to 96x96
    fps: float
    source: str  # what it was made from

    def __len__(self) -> int:
        return int(len(self.frames))

    def index(self, i: int) -> int:
        """Avatar frame shown at frame ``i`` of a reply: forwards, then backwards (ping-pong)."""
        n = len(self)
        if n <= 1:
            return 0
        period = 2 * n - 2
        j = int(i) % period
        return j if j < n else period - j

    def index_at(self, t: float) -> int:
        """Avatar frame shown ``t`` seconds into a reply, by the avatar's own clock (``fps``).

        The one clock of the face: renderers and the idle loop ask by time, so an
        output rate (``face.fps``) other than the enrolled rate neither speeds up
        nor slows down the recorded motion.
        """
        fps = float(self.fps) if self.fps and self.fps > 0 else 25.0
        # a hair of slack so t = k / fps lands on frame k despite float rounding
        return self.index(int(np.floor(max(0.0, float(t)) * fps + 1e-6)))

    def frame_at(self, t: float) -> np.ndarray:
        """The avatar frame (H, W, 3) shown ``t`` seconds into a reply (see ``index_at``)."""
        return self.frames[self.index_at(t)]

    def validate(self) -> None:
        n = len(self.frames)
        problems = []
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            problems.append(f"frames must be (N,H,W,3) uint8, got {self.frames.shape} {self.frames.dtype}")
        if self.boxes.shape != (n, 4):
            problems.append(f"boxes must be ({n}, 4), got {self.boxes.shape}")
        if self.landmarks.shape != (n, 478, 2):
            problems.append(f"landmarks must be ({n}, 478, 2), got {self.landmarks.shape}")
        if self.crops.shape != (n, CROP_SIZE, CROP_SIZE, 3):
            problems.append(f"crops must be ({n}, 96, 96, 3), got {self.crops.shape}")
        if n == 0:
            problems.append("no frames")
        if problems:
            raise AvatarError("invalid avatar: " + "; ".join(problems))


def avatar_index_at(avatar, t: float) -> int:
    """``avatar.index_at(t)``, also for avatar-like objects without it (frames + fps)."""
    at = getattr(avatar, "index_at", None)
    if at is not None:
        return int(at(t))
    n = len(avatar.frames)
    if n <= 1:
        return 0
    i = int(np.floor(max(0.0, t) * float(getattr(avatar, "fps", 25.0) or 25.0) + 1e-6))
    period = 2 * n - 2
    j = i % period
    return j if j < n else period - j


def make_crops(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """frames[i][y1:y2, x1:x2] resized to 96×96 for every frame."""
    import cv2

    out = np.empty((len(frames), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.int64)):
        face = frames[i][y1:y2, x1:x2]
        if face.size == 0:
            raise AvatarError(f"frame {i}: empty face box {x1, y1, x2, y2}")
        out[i] = cv2.resize(face, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    return out


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- saving / loading ------------------------------------------------------------
def save_avatar(avatar: Avatar, folder: Path, report: dict) -> None:
    """Write ``avatar`` to ``folder`` atomically.

    Everything goes into a temporary folder beside ``folder``; only when it is
    complete is the old folder renamed aside and the new one renamed in (the old
    one is deleted last).  A failure at any point leaves the old avatar as it was.
    """
    avatar.validate()
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        for name in _ARRAYS:
            arr = np.ascontiguousarray(getattr(avatar, name))
            with open(tmp / (FRAMES_FILE if name == "frames" else f"{name}.npy"), "wb") as fh:
                if name == "frames":  # lossless PNG per frame (raw frames of an 8 s clip took 175 MB)
                    np.savez(fh, **_encode_frames(arr))
                else:
                    np.save(fh, arr, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        n, h, w = avatar.frames.shape[:3]
        meta = {
            "version": AVATAR_VERSION,
            "fps": float(avatar.fps),
            "source": avatar.source,
            "frames": int(n),
            "width": int(w),
            "height": int(h),
            "kind": report.get("kind", "clips"),
            "source_sha1": report.get("source_sha1", []),
            "options": report.get("options"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        for name, obj in (("meta.json", meta), ("report.json", report)):
            with open(tmp / name, "w", encoding="utf-8") as fh:
                json.dump(obj, fh, ensure_ascii=False, indent=2, default=_json_default)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
    _CACHE.pop(str(folder.resolve()), None)


#: the frames, each a lossless PNG: ``png`` (their bytes, one after another) and ``offsets`` (N+1)
FRAMES_FILE = "frames-png.npz"


def _encode_frames(frames: np.ndarray) -> dict:
    import cv2

    blobs = []
    for f in frames:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(f[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise AvatarError("could not encode a frame as PNG")
        blobs.append(buf.reshape(-1))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return {
        "png": np.concatenate(blobs) if blobs else np.zeros(0, np.uint8),
        "offsets": offsets,
        "shape": np.asarray(frames.shape, np.int64),
    }


def _decode_frames(path: Path) -> np.ndarray:
    import cv2

    with np.load(path, allow_pickle=False) as z:
        data, offsets, shape = z["png"], z["offsets"], tuple(int(x) for x in z["shape"])
    out = np.empty(shape, np.uint8)
    for i in range(shape[0]):
        img = cv2.imdecode(data[offsets[i] : offsets[i + 1]], cv2.IMREAD_COLOR)
        if img is None or img.shape != shape[1:]:
            raise ValueError(f"frame {i} does not decode to {shape[1:]}")
        out[i] = img[..., ::-1]
    return out


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _recover(folder: Path) -> None:
    """A crash between the two renames of ``save_avatar`` leaves only ``.name.old-*``: restore it."""
    if not folder.exists():
        olds = sorted(folder.parent.glob(f".{folder.name}.old-*")) if folder.parent.is_dir() else []
        if olds:
            olds[-1].rename(folder)
    # then our own stale temporaries of earlier runs (160-180 MB each): only once the folder is there
    remove_stale(folder.parent, (f".{folder.name}.new-*", f".{folder.name}.old-*"))


def read_meta(folder: Path) -> dict | None:
    p = Path(folder) / "meta.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AvatarError(f"{p}: corrupt ({exc.msg}); enroll the face again") from exc


def read_avatar(folder: Path) -> Avatar:
    """Load an avatar folder (frames memory-mapped)."""
    folder = Path(folder)
    _recover(folder)
    meta = read_meta(folder)
    if meta is None:
        raise AvatarError(
            f"{folder}: not an enrolled avatar (no meta.json). "
            f"Enroll a face with 'python -m pipelines enroll --name NAME clip.mp4'."
        )
    if meta.get("version") != AVATAR_VERSION:
        raise AvatarError(
            f"{folder}: avatar format version {meta.get('version')} "
            f"(this program reads {AVATAR_VERSION}); enroll the face again"
        )
    arrays = {}
    for name in _ARRAYS:
        p = folder / f"{name}.npy"
        if name == "frames" and not p.is_file() and (folder / FRAMES_FILE).is_file():
            try:
                arrays[name] = _decode_frames(folder / FRAMES_FILE)
            except (ValueError, OSError, KeyError) as exc:
                raise AvatarError(f"{folder / FRAMES_FILE}: unreadable ({exc}); enroll the face again") from exc
            continue
        if not p.is_file():
            raise AvatarError(f"{folder}: incomplete avatar ({p.name} missing); enroll the face again")
        try:
            arrays[name] = np.load(p, mmap_mode="r" if name == "frames" else None, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise AvatarError(f"{p}: unreadable ({exc}); enroll the face again") from exc
    av = Avatar(
        frames=arrays["frames"],
        boxes=np.asarray(arrays["boxes"], np.int32),
        landmarks=np.asarray(arrays["landmarks"], np.float32),
        crops=arrays["crops"],
        fps=float(meta["fps"]),
        source=str(meta.get("source", folder)),
    )
    av.validate()
    return av


def read_report(folder: Path) -> dict:
    p = Path(folder) / "report.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


# -- the avatar a persona speaks with ----------------------------------------------
_CACHE: dict[str, tuple[int, Avatar]] = {}
_LOCK = threading.Lock()


def _cached_read(folder: Path) -> Avatar:
    key = str(Path(folder).resolve())
    stamp = (Path(folder) / "meta.json").stat().st_mtime_ns
    hit = _CACHE.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    av = read_avatar(folder)
    _CACHE[key] = (stamp, av)
    return av

"""Is the largest face of a clip the same person all the way through?  No download, no learned model.

Each frame's face gets a descriptor from what enrollment already has:

* geometry: the 478-point mesh, normalised for position, size and in-plane roll
  (eye centres to fixed places), at points that speech and blinks do not move
  (brows, nose, temples, forehead, cheekbones): where these sit relative to the
  eyes is a property of the person, not of the pose;
* appearance: of the face crop aligned the same way, a hue/saturation histogram
  (skin, hair and eye colour) and a histogram of local binary patterns (texture),
  both taken from the middle of the face.

The clip's first second is the reference; a face whose distance to it stays above
the limits for ``RUN_FRAMES`` frames in a row is another person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# mesh points that keep their place relative to the eyes while the person talks or blinks
RIGID_POINTS = (
    10,
    151,
    9,
    8,
    168,
    6,
    197,
    195,
    5,
    4,
    1,
    2,
    98,
    327,  # forehead, nose bridge and tip, nostrils
    70,
    63,
    105,
    66,
    107,
    336,
    296,
    334,
    293,
    300,  # eyebrows
    127,
    356,
    234,
    454,
    116,
    345,
    123,
    352,  # temples, face sides at eye level, cheekbones
)
RIGHT_EYE_POINTS = (33, 133, 159, 145)
LEFT_EYE_POINTS = (263, 362, 386, 374)
CROP = 64  # aligned face crop (pixels)
RUN_FRAMES = 5  # a change must last this many frames (not a blur, a blink or a tracker glitch)
REFERENCE_S = 1.0  # the first second is "the person"

# limits (distances to the reference), set from synthetic clips with head motion and speech (well
# below them) and of two different synthetic people at the same place and size (well above)
GEOMETRY_LIMIT = 0.025  # RMS offset of the rigid points, in eye distances
COLOUR_LIMIT = 0.2  # Bhattacharyya distance of the hue/saturation histograms
TEXTURE_LIMIT = 0.2  # Bhattacharyya distance of the LBP histograms


@dataclass
class FaceDescriptors:
    geometry: np.ndarray  # (N, P*2) float32 (NaN where no face)
    colour: np.ndarray  # (N, 16*8) float32, each sums to 1
    texture: np.ndarray  # (N, 256) float32, each sums to 1
    valid: np.ndarray  # (N,) bool


def _eye_frame(marks: np.ndarray) -> tuple[np.ndarray, float, np.ndarray] | None:
    """(centre, eye distance, rotation 2x2) that maps the face so the eyes sit level, 1 apart."""
    right = marks[list(RIGHT_EYE_POINTS)].mean(0)  # image left
    left = marks[list(LEFT_EYE_POINTS)].mean(0)
    d = left - right
    dist = float(np.hypot(*d))
    if not np.isfinite(dist) or dist < 4:
        return None
    c, s = d / dist
    rot = np.array([[c, s], [-s, c]], np.float32)
    return (left + right) / 2, dist, rot


def geometry_descriptor(marks: np.ndarray) -> np.ndarray | None:
    fr = _eye_frame(marks)
    if fr is None:
        return None
    centre, dist, rot = fr
    pts = (marks[list(RIGID_POINTS)] - centre) @ rot.T / dist
    return pts.astype(np.float32).reshape(-1)


def aligned_crop(frame: np.ndarray, marks: np.ndarray) -> np.ndarray | None:
    """The face (eyes level, eye distance = 0.4 of the crop) as a CROP x CROP RGB image."""
    import cv2

    fr = _eye_frame(marks)
    if fr is None:
        return None
    centre, dist, rot = fr
    scale = 0.4 * CROP / dist
    m = np.zeros((2, 3), np.float32)
    m[:, :2] = rot * scale
    # the eye midpoint goes to (0.5, 0.35) of the crop: the crop holds brows to mouth
    m[:, 2] = np.array([0.5 * CROP, 0.35 * CROP], np.float32) - m[:, :2] @ centre.astype(np.float32)
    return cv2.warpAffine(frame, m, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


_MASK = None


def _centre_mask() -> np.ndarray:
    global _MASK
    if _MASK is None:
        yy, xx = np.mgrid[0:CROP, 0:CROP].astype(np.float32) / CROP
        _MASK = (((xx - 0.5) / 0.42) ** 2 + ((yy - 0.55) / 0.5) ** 2) <= 1.0
    return _MASK


def colour_histogram(crop: np.ndarray) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)[_centre_mask()]
    h = np.minimum(hsv[:, 0].astype(np.int32) * 16 // 180, 15)
    s = np.minimum(hsv[:, 1].astype(np.int32) * 8 // 256, 7)
    hist = np.bincount(h * 8 + s, minlength=128).astype(np.float32)
    return hist / max(hist.sum(), 1.0)


def lbp_histogram(crop: np.ndarray) -> np.ndarray:
    """Histogram of 8-neighbour local binary patterns of the grey crop (inside the centre mask)."""
    import cv2

    g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.int16)
    c = g[1:-1, 1:-1]
    code = np.zeros(c.shape, np.int32)
    for bit, (dy, dx) in enumerate(((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))):
        code |= (g[1 + dy : g.shape[0] - 1 + dy, 1 + dx : g.shape[1] - 1 + dx] >= c).astype(np.int32) << bit
    hist = np.bincount(code[_centre_mask()[1:-1, 1:-1]], minlength=256).astype(np.float32)
    return hist / max(hist.sum(), 1.0)


def describe_faces(frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> FaceDescriptors:
    n = len(frames)
    p = len(RIGID_POINTS) * 2
    geo = np.full((n, p), np.nan, np.float32)
    col = np.zeros((n, 128), np.float32)
    tex = np.zeros((n, 256), np.float32)
    valid = np.zeros(n, bool)
    for i in range(n):
        if not found[i] or not np.isfinite(landmarks[i]).all():
            continue
        g = geometry_descriptor(landmarks[i])
        crop = aligned_crop(np.asarray(frames[i]), landmarks[i])
        if g is None or crop is None:
            continue
        geo[i], col[i], tex[i], valid[i] = g, colour_histogram(crop), lbp_histogram(crop), True
    return FaceDescriptors(geo, col, tex, valid)


def _bhattacharyya(h: np.ndarray, ref: np.ndarray) -> np.ndarray:
    bc = np.sqrt(np.clip(h, 0, None) * np.clip(ref, 0, None)[None]).sum(1)
    return np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))


def identity_distances(d: FaceDescriptors, fps: float) -> dict[str, np.ndarray]:
    """Per frame, each distance to the reference (the valid frames of the first second), as a share of its limit."""
    idx = np.flatnonzero(d.valid)
    n = len(d.valid)
    out = {k: np.full(n, np.nan, np.float32) for k in ("geometry", "colour", "texture")}
    if len(idx) == 0:
        return out
    ref_idx = idx[idx < idx[0] + max(1, int(round(REFERENCE_S * fps)))]
    geo_ref = np.median(d.geometry[ref_idx], 0)
    out["geometry"][idx] = np.sqrt(np.mean((d.geometry[idx] - geo_ref) ** 2, 1)) / GEOMETRY_LIMIT
    out["colour"][idx] = _bhattacharyya(d.colour[idx], d.colour[ref_idx].mean(0)) / COLOUR_LIMIT
    out["texture"][idx] = _bhattacharyya(d.texture[idx], d.texture[ref_idx].mean(0)) / TEXTURE_LIMIT
    return out


def identity_change(frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray, fps: float) -> tuple[int, str] | None:
    """(first frame, what differs) where the face becomes another person for ``RUN_FRAMES`` frames; None: one person.

    A frame counts as another person when two of the three distances exceed their
    limits, or one exceeds twice its limit.
    """
    dist = identity_distances(describe_faces(frames, landmarks, found), fps)
    stack = np.stack([dist["geometry"], dist["colour"], dist["texture"]], 1)
    ok = np.isfinite(stack).all(1)
    over = np.zeros(len(stack), bool)
    over[ok] = ((stack[ok] > 1.0).sum(1) >= 2) | (stack[ok] > 2.0).any(1)
    run = 0
    for i in np.flatnonzero(ok):
        run = run + 1 if over[i] else 0
        if run >= RUN_FRAMES:
            k = int(np.flatnonzero(ok)[np.searchsorted(np.flatnonzero(ok), i) - RUN_FRAMES + 1])
            names = [n for n, v in zip(("face shape", "colours", "skin texture"), stack[i]) if v > 1.0]
            return k, " and ".join(names) or "appearance"
    return None

"""Paste a generated 96x96 mouth back into the full frame, without a visible box.

Wav2Lip regenerates the whole face crop, but only its lower half carries the
new mouth, and pasting the upscaled crop as a rectangle leaves the seam and
blur users complain about most.  Here the generated face is blended through a
feathered mask over the lower face only:

* the mask is the convex hull of the face-mesh jaw line and the bottom of the
  nose (an ellipse over the lower half of the box when there are no landmarks),
  cut below the box's upper ~45 % and kept off the box border;
* its edge ramps from 0 to 1 over ``feather`` pixels *inside* the hull
  (distance transform + smoothstep), so it is exactly 0 outside, and every
  pixel outside the mask keeps its original value bit for bit;
* before blending, the generated patch's colour is matched to the frame
  (mean and standard deviation per L*a*b* channel, measured on the feather ring
  where both show the same skin).
"""

from __future__ import annotations

import numpy as np

#: mediapipe face-mesh indices: lower face oval (cheek to cheek through the chin) ...
LOWER_OVAL = [93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323]
#: ... and the bottom of the nose (nostril wings and the point under the tip)
NOSE_BOTTOM = [129, 98, 2, 327, 358]
MASK_POINTS = LOWER_OVAL + NOSE_BOTTOM

TOP_CUT = 0.45  # mask rows start at this fraction of the box height
MIN_FEATHER = 2.0


def _cv2():
    from pipelines.optional import require

    return require("cv2", "opencv-python-headless", "compositing the rendered face")


def box_size(box) -> tuple[int, int]:
    x1, y1, x2, y2 = (int(v) for v in box)
    return x2 - x1, y2 - y1


def lower_face_mask(box, landmarks: np.ndarray | None = None, feather: float | None = None) -> np.ndarray:
    """Feathered float32 mask ``(h, w)`` in [0, 1] over the lower face inside ``box``.

    ``landmarks`` are (478, 2) pixel coordinates in the *frame* (the box's
    origin is subtracted here); missing or non-finite landmarks fall back to an
    ellipse.  The mask is 0 on the box border and everywhere outside the hull.
    """
    cv2 = _cv2()
    x1, y1 = int(box[0]), int(box[1])
    w, h = box_size(box)
    if w < 4 or h < 4:
        raise ValueError(f"face box {tuple(int(v) for v in box)} is too small to composite")
    hard = np.zeros((h, w), np.uint8)
    pts = None
    if landmarks is not None:
        lm = np.asarray(landmarks, np.float32)
        if lm.ndim == 2 and lm.shape[0] > max(MASK_POINTS) and np.isfinite(lm[MASK_POINTS]).all():
            pts = lm[MASK_POINTS] - np.array([x1, y1], np.float32)
    if pts is not None:
        hull = cv2.convexHull(np.round(pts).astype(np.int32))
        cv2.fillConvexPoly(hard, hull, 1)
    else:
        cv2.ellipse(
            hard,
            (int(round(0.5 * w)), int(round(0.74 * h))),
            (int(round(0.36 * w)), int(round(0.27 * h))),
            0,
            0,
            360,
            1,
            -1,
        )
    hard[: int(np.ceil(TOP_CUT * h))] = 0
    hard[0, :] = hard[-1, :] = 0
    hard[:, 0] = hard[:, -1] = 0
    if feather is None:
        feather = max(MIN_FEATHER, 0.08 * min(w, h))
    dist = cv2.distanceTransform(hard, cv2.DIST_L2, 5)
    t = np.clip(dist / float(feather), 0.0, 1.0)
    mask = (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep
    mask[hard == 0] = 0.0
    return mask


def _stats(lab: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    px = lab[sel]
    return px.mean(axis=0), px.std(axis=0) + 1e-3


def match_colour(patch: np.ndarray, target: np.ndarray, mask: np.ndarray, max_gain: float = 1.4) -> np.ndarray:
    """``patch`` (uint8 RGB) with its L*a*b* mean/std matched to ``target`` on the mask's ring.

    The ring is where the mask is strictly between 0 and 1 (skin around the
    mouth in both images); with too few ring pixels the whole mask is used.
    The std gain is kept within [1/max_gain, max_gain].
    """
    cv2 = _cv2()
    sel = (mask > 0.0) & (mask < 1.0)
    if sel.sum() < 16:
        sel = mask > 0.0
    if sel.sum() < 16:
        return patch
    p_lab = cv2.cvtColor(patch.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    t_lab = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mp, sp = _stats(p_lab, sel)
    mt, st = _stats(t_lab, sel)
    gain = np.clip(st / sp, 1.0 / max_gain, max_gain).astype(np.float32)
    out = (p_lab - mp) * gain + mt
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


class Compositor:
    """Pastes generated faces into frames; masks are cached per avatar frame."""

    def __init__(self, colour_match: bool = True, feather: float | None = None):
        self.colour_match = colour_match
        self.feather = feather
        self._masks: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = {}

    def mask_for(self, key: int, box, landmarks: np.ndarray | None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """(mask cropped to its non-zero rows/columns, that crop in box coordinates)."""
        hit = self._masks.get(key)
        if hit is None:
            m = lower_face_mask(box, landmarks, self.feather)
            ys, xs = np.nonzero(m)
            if len(ys) == 0:
                raise ValueError(f"empty mouth mask for face box {tuple(int(v) for v in box)}")
            r = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
            hit = (np.ascontiguousarray(m[r[0] : r[1], r[2] : r[3]]), r)
            self._masks[key] = hit
        return hit

    def paste(
        self, frame: np.ndarray, box, face96: np.ndarray, key: int = 0, landmarks: np.ndarray | None = None
    ) -> np.ndarray:
        """A copy of ``frame`` (H,W,3 uint8 RGB) with ``face96`` (96,96,3 uint8 RGB) blended in.

        Only pixels where the mask is > 0 change.
        """
        cv2 = _cv2()
        x1, y1, x2, y2 = (int(v) for v in box)
        w, h = x2 - x1, y2 - y1
        mask, (r0, r1, c0, c1) = self.mask_for(key, box, landmarks)
        patch = cv2.resize(face96, (w, h), interpolation=cv2.INTER_CUBIC)[r0:r1, c0:c1]
        out = frame.copy()
        region = out[y1 + r0 : y1 + r1, x1 + c0 : x1 + c1]
        if self.colour_match:
            patch = match_colour(patch, region, mask)
        m = mask[..., None]
        blended = region.astype(np.float32) * (1.0 - m) + patch.astype(np.float32) * m
        blended = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        np.copyto(region, blended, where=m > 0.0)
        return out

    def clear(self) -> None:
        self._masks.clear()

"""Open a still face's mouth: a smooth displacement field on the lower face, applied with ``cv2.remap``.

For one avatar frame a ``MouthRig`` is computed once from its face-mesh
landmarks: a region of interest (ROI) around mouth and jaw, the mouth line
(midway between the inner lip contours) per image column, a gap profile across
the mouth (elliptic, zero at the corners) and a broader jaw profile.  Opening
the mouth by ``g`` pixels moves the upper lip up by ``g/4`` (fading out towards
the nose) and the lower lip, chin and jaw down by ``3g/4`` (the lip-shaped
profile near the mouth turning into the jaw's shape below it, fading out below
the chin).  The backward map is found by two fixed-point steps; pixels that land
inside the opened gap are painted as the inner mouth: a dark, shaded cavity
with a hint of upper (and, when wide open, lower) teeth and the tongue.  Only the
ROI is touched, so a frame costs well under a millisecond at 512×512.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.face.avatar import landmarks as L

#: widest opening (gap between the lips) as a share of the mouth width
MAX_GAP = 0.42
UPPER_SHARE = 0.25
#: share of a smiling rest mouth's interior (its visible teeth) that rides with the upper lip
UPPER_TEETH = 0.6


def _smooth(e0: float, e1: float, v):
    t = np.clip((v - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class MouthRig:
    x0: int
    y0: int
    x1: int
    y1: int
    width: float  # mouth width in pixels (corner to corner)
    cx: float  # mouth centre x (ROI coordinates)
    gx: np.ndarray  # (h, w) float32 column coordinate in the ROI
    gy: np.ndarray  # (h, w) float32 row coordinate in the ROI
    ym: np.ndarray  # (w,) float32 mouth line row per column (ROI)
    p: np.ndarray  # (w,) gap profile across the mouth, 1 at the centre, 0 at the corners
    q: np.ndarray  # (w,) jaw profile
    t: np.ndarray  # (h, w) rows below the mouth line (negative above)
    chin_t: float  # rows from the mouth line to the chin
    lip_colour: np.ndarray  # (3,) float32 mean lip colour (for the cavity's rim)
    down0: np.ndarray | None = None  # down(t) on the ROI grid
    up0: np.ndarray | None = None  # up(t) on the ROI grid
    cols: np.ndarray | None = None  # (w,) int column index
    rest_half: np.ndarray | None = None  # (w,) half the inner-lip gap at rest (a smiling photo shows teeth)

    def __post_init__(self) -> None:
        self.down0 = self.down(self.t).astype(np.float32)
        self.up0 = self.up(self.t).astype(np.float32)
        self.cols = np.arange(self.t.shape[1])
        self.gx_abs = (self.gx + self.x0).astype(np.float32)
        self.ym_abs = (self.ym + self.y0).astype(np.float32)
        if self.rest_half is None:
            self.rest_half = np.zeros(self.t.shape[1], np.float32)
        #: how much of the rest mouth's own interior (teeth of a smile) there is to stretch, 0..1
        self.shows_interior = float(np.clip((2 * self.rest_half.max() - 1.5) / (0.05 * self.width), 0, 1))
        on = np.flatnonzero(self.p > 0)
        self.c0, self.c1 = (int(on[0]), int(on[-1]) + 1) if len(on) else (0, 0)

    # weights of the downward (jaw) and upward (upper lip) displacement at rows t
    def down(self, t: np.ndarray) -> np.ndarray:
        W = self.width
        s = _smooth(0.0, 0.45 * W, t)
        f = 1.0 - _smooth(self.chin_t, self.chin_t + 0.5 * W, t)
        return (self.p * (1 - s) + self.q * s) * f * (t >= 0)

    def up(self, t: np.ndarray) -> np.ndarray:
        g = 1.0 - _smooth(0.0, 0.5 * self.width, -t)
        return self.p * g * (t <= 0)


def build_rig(frame: np.ndarray, pts: np.ndarray) -> MouthRig:
    """The rig of one avatar frame from its (478, 2) landmarks."""
    H, W_img = frame.shape[:2]
    left, right = pts[L.MOUTH_LEFT], pts[L.MOUTH_RIGHT]
    mw = float(np.linalg.norm(right - left))
    mw = max(mw, 8.0)
    chin = pts[L.CHIN]
    jaw = pts[L.JAW]
    nose = pts[L.NOSE_TIP]
    x0 = int(np.floor(min(jaw[:, 0].min(), left[0] - 0.6 * mw)))
    x1 = int(np.ceil(max(jaw[:, 0].max(), right[0] + 0.6 * mw)))
    y0 = int(np.floor((nose[1] + pts[L.UPPER_LIP_TOP][1]) / 2))
    y1 = int(np.ceil(chin[1] + 0.75 * mw + MAX_GAP * mw))
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(W_img, max(x1, x0 + 2)), min(H, max(y1, y0 + 2))
    w, h = x1 - x0, y1 - y0
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    # mouth line: the middle of the inner lip contours, per column
    up_in = pts[L.UPPER_LIP_INNER] - (x0, y0)
    lo_in = pts[L.LOWER_LIP_INNER] - (x0, y0)
    cols = np.arange(w, dtype=np.float32)
    ou, ol = np.argsort(up_in[:, 0]), np.argsort(lo_in[:, 0])
    yu = np.interp(cols, up_in[ou, 0], up_in[ou, 1])
    yl = np.interp(cols, lo_in[ol, 0], lo_in[ol, 1])
    ym = ((yu + yl) / 2).astype(np.float32)
    # outside the mouth the line continues flat at the corners' height
    cl, cr = left - (x0, y0), right - (x0, y0)
    ym = np.where(cols < cl[0], cl[1], np.where(cols > cr[0], cr[1], ym)).astype(np.float32)
    cxm = float((cl[0] + cr[0]) / 2)
    half = max(mw / 2 - 1.0, 2.0)
    p = np.sqrt(np.clip(1 - ((cols - cxm) / half) ** 2, 0, 1)).astype(np.float32)
    jaw_half = max(0.5 * float(jaw[:, 0].max() - jaw[:, 0].min()), mw)
    q = (0.5 + 0.5 * np.cos(np.pi * np.clip(np.abs(cols - cxm) / (0.9 * jaw_half), 0, 1))).astype(np.float32)
    q = np.maximum(q, p)
    t = gy - ym[None, :]
    chin_t = float(chin[1] - (y0 + ym[int(np.clip(round(cxm), 0, w - 1))]))
    # lip colour: pixels on the outer-to-inner lip band at the centre
    mid = (pts[L.UPPER_LIP_TOP] + pts[L.LOWER_LIP_BOTTOM]) / 2
    yy, xx = int(np.clip(mid[1], 0, H - 1)), int(np.clip(mid[0], 0, W_img - 1))
    ys = np.clip(
        [
            int(pts[L.UPPER_LIP_TOP][1] * 0.4 + pts[L.UPPER_LIP_IN][1] * 0.6),
            int(pts[L.LOWER_LIP_BOTTOM][1] * 0.5 + pts[L.LOWER_LIP_IN][1] * 0.5),
        ],
        0,
        H - 1,
    )
    lip = frame[ys, xx].astype(np.float32).mean(0) if yy >= 0 else np.array([170, 90, 90], np.float32)
    inside = (cols >= cl[0]) & (cols <= cr[0])
    rest_half = np.where(inside, np.clip((yl - yu) / 2, 0, None), 0).astype(np.float32)
    return MouthRig(x0, y0, x1, y1, mw, cxm, gx, gy, ym, p, q, t.astype(np.float32), chin_t, lip, rest_half=rest_half)


def open_mouth(src: np.ndarray, dst: np.ndarray, rig: MouthRig, opening: float, width: float = 1.0) -> None:
    """Write into ``dst`` (same shape as ``src``) the ROI of ``src`` with the mouth opened.

    ``opening`` in [0, 1]; ``width`` the lips' width against rest (> 1 spread, < 1
    rounded).  Opening 0 at width 1 leaves ``dst`` as it is (the caller copies the frame).
    """
    import cv2

    if opening <= 0:
        if abs(width - 1.0) > 1e-3:
            roi = np.ascontiguousarray(src[rig.y0 : rig.y1, rig.x0 : rig.x1])
            dst[rig.y0 : rig.y1, rig.x0 : rig.x1] = _reshape_width(roi, rig, width)
        return
    gap = float(np.clip(opening, 0, 1.5)) * MAX_GAP * rig.width
    U, D = UPPER_SHARE * gap, (1 - UPPER_SHARE) * gap
    t = rig.t
    h = t.shape[0]
    ym = rig.ym[None, :]
    gap_top, gap_bot = -U * rig.p[None, :], D * rig.p[None, :]  # the opened gap, rows relative to the line
    # backward map, two fixed-point steps:  t_src = t - D*down(t_src) below the gap,
    # t_src = t + U*up(t_src) above it; the second step samples the precomputed weights
    tb = t - D * rig.down0
    rows = np.clip(np.rint(tb + ym), 0, h - 1).astype(np.intp)
    tb = np.maximum(t - D * rig.down0[rows, rig.cols], 0)
    ta = t + U * rig.up0
    rows = np.clip(np.rint(ta + ym), 0, h - 1).astype(np.intp)
    ta = np.minimum(t + U * rig.up0[rows, rig.cols], 0)
    # inside the gap: the rest mouth's own interior (the teeth of a smiling photo) stretched
    # over the opened gap; a closed rest mouth has none and gets the painted cavity instead
    # at their natural size: the upper teeth ride with the upper lip, the lower ones with the jaw
    rh = rig.rest_half[None, :]
    from_top, from_bot = t - gap_top, gap_bot - t
    t_in = np.where(
        from_top < UPPER_TEETH * 2 * rh,
        -rh + from_top,
        np.where(from_bot < (1 - UPPER_TEETH) * 2 * rh, rh - from_bot, 0.0),
    )
    ts = np.where(t >= gap_bot, tb, np.where(t <= gap_top, ta, t_in))
    map_y = (ts + rig.ym_abs[None, :]).astype(np.float32)
    roi = cv2.remap(src, rig.gx_abs, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    _paint_cavity(roi, rig, gap, U, D)
    if abs(width - 1.0) > 1e-3:
        roi = _reshape_width(roi, rig, width)
    dst[rig.y0 : rig.y1, rig.x0 : rig.x1] = roi


def _reshape_width(roi: np.ndarray, rig: MouthRig, width: float) -> np.ndarray:
    """Spread (> 1) or round (< 1) the lips: a horizontal scale about the mouth centre that
    fades out away from the mouth line and beyond the corners (a backward map on the ROI)."""
    import cv2

    s = float(np.clip(width, 0.6, 1.4))
    W = rig.width
    dx = rig.gx - rig.cx
    fade = np.exp(-((rig.t / (0.45 * W)) ** 2)) * np.clip(1 - (np.abs(dx) / (1.1 * W)) ** 2, 0, 1)
    map_x = (rig.gx - (1 - 1 / s) * dx * fade).astype(np.float32)
    return cv2.remap(roi, map_x, rig.gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _paint_cavity(roi: np.ndarray, rig: MouthRig, gap: float, U: float, D: float) -> None:
    """Shade the inner mouth inside the opened gap (in place, on the rows/columns it spans)."""
    if gap < 0.5 or rig.c1 <= rig.c0:
        return
    c0, c1 = rig.c0, rig.c1
    ym = rig.ym[c0:c1]
    r0 = max(0, int(np.floor(ym.min() - U)) - 2)
    r1 = min(roi.shape[0], int(np.ceil(ym.max() + D)) + 3)
    sub = roi[r0:r1, c0:c1]
    t = rig.t[r0:r1, c0:c1]
    p = rig.p[None, c0:c1]
    gx = rig.gx[r0:r1, c0:c1]
    gap_top, gap_bot = -U * p, D * p
    below, above = t >= gap_bot, t <= gap_top
    # the inner mouth
    inside = (~below) & (~above)
    if inside.any():
        span = np.maximum(gap_bot - gap_top, 1e-3)
        r = (t - gap_top) / span  # 0 at the upper lip, 1 at the lower lip
        depth = np.sin(np.pi * np.clip(r, 0, 1))  # darkest in the middle
        side = np.clip(p, 0, 1)
        base = np.array([72, 24, 28], np.float32)
        cav = base * (1.0 - 0.45 * depth[..., None]) * (0.55 + 0.45 * side[..., None])
        cav = cav + (rig.lip_colour * 0.35 - base * 0.35) * (1 - depth[..., None]) * 0.5
        W = rig.width
        dx = np.abs(gx - rig.cx) / (0.36 * W)
        tooth_w = np.clip(1 - dx**4, 0, 1)
        up_h = min(0.10 * W, 0.45 * float(gap))  # upper teeth, showing below the upper lip
        rows = t - gap_top
        teeth_up = _smooth(up_h + 0.8, up_h - 0.8, rows) * tooth_w
        lo_h = max(0.0, min(0.06 * W, 0.3 * float(gap) - 0.04 * W))
        teeth_lo = _smooth(lo_h + 0.8, lo_h - 0.8, gap_bot - t) * tooth_w * (lo_h > 0)
        # teeth: ivory at the face's own brightness, darker to the sides and in the upper lip's
        # shadow, a greyer translucent edge, and faint seams between the teeth
        lum = float(np.clip(rig.lip_colour.mean() / 135.0, 0.6, 1.1))
        tooth = np.array([206, 197, 180], np.float32) * lum * (0.5 + 0.5 * np.clip(1 - dx * dx, 0, 1))[..., None]
        tooth = tooth * (0.7 + 0.3 * _smooth(0, 0.6 * up_h + 1, rows))[..., None]
        tooth = tooth * (1 - 0.12 * _smooth(0.6 * up_h, up_h + 0.8, rows))[..., None]
        phase = (gx - rig.cx) / max(0.11 * W, 2.0)
        seam = np.exp(-((phase - np.round(phase)) ** 2) / 0.004)  # at the centre and every tooth width
        tooth = tooth * (1 - 0.22 * seam)[..., None]
        tongue_h = max(0.0, float(gap) - 0.15 * W) * 0.5
        tongue = _smooth(tongue_h + 1, tongue_h - 2, gap_bot - t) * np.clip(1 - (dx / 1.6) ** 2, 0, 1) * (tongue_h > 0)
        cav = cav * (1 - tongue[..., None]) + np.array([150, 62, 68], np.float32) * tongue[..., None]
        cav = cav * (1 - teeth_up[..., None]) + tooth * teeth_up[..., None]
        cav = cav * (1 - teeth_lo[..., None]) + tooth * 0.9 * teeth_lo[..., None]
        # soft, anti-aliased edges on both lips
        a = _smooth(-0.5, 1.0, t - gap_top) * _smooth(-0.5, 1.0, gap_bot - t)
        a = np.where(inside, np.maximum(a, 0.5), a * (gap > 0.5))[..., None]
        # a photo whose mouth already shows its interior keeps it (stretched), with only the depth
        # darkening a little: no painted hole, and no dark rim at the lips
        keep = rig.shows_interior
        if keep > 0:  # the photo's own teeth in bands at both lips, the painted cavity between them
            rh = rig.rest_half[None, c0:c1]
            bands = np.maximum(
                _smooth(UPPER_TEETH * 2 * rh + 1, UPPER_TEETH * 2 * rh - 1, t - gap_top),
                _smooth((1 - UPPER_TEETH) * 2 * rh + 1, (1 - UPPER_TEETH) * 2 * rh - 1, gap_bot - t),
            )
            plain = base * (1.0 - 0.3 * depth[..., None]) + 0.4 * rig.lip_colour * (1 - 0.5 * depth[..., None])
            plain = plain * (0.6 + 0.4 * side[..., None])
            cav = cav * (1 - keep) + plain * keep
            a = a * (1 - keep * bands[..., None])
        sub[:] = (sub.astype(np.float32) * (1 - a) + cav * a + 0.5).astype(np.uint8)

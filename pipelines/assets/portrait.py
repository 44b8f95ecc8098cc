"""Render the default persona's portrait: a face of no real person, made procedurally.

``python -m pipelines.assets.portrait [OUT.png] [--size 512] [--seed 7]`` writes
``source/default/portrait.png``.  The face is built from a height field (head
ellipsoid, brow ridge, eye sockets, nose, cheeks, lips, chin) lit by a soft key
light, so the shading reads as a face to mediapipe's detector and face mesh, with
an albedo of skin, lips, blush, then eyes (sclera, iris, pupil, highlights, lids,
lashes), brows, hair, neck, clothes and a soft background painted on top.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pipelines.paths import DEFAULT_PERSONA

DEFAULT_OUT = DEFAULT_PERSONA / "portrait.png"


# -- small helpers ---------------------------------------------------------------
def _grid(size: int):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x, y


def _gauss(x, y, cx, cy, sx, sy, angle=0.0):
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = x - cx, y - cy
        x, y, cx, cy = c * dx + s * dy, -s * dx + c * dy, 0.0, 0.0
    return np.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2) / 2)


def _smooth(edge0, edge1, v):
    t = np.clip((v - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def _poly_mask(size: int, pts, blur: float = 1.0, scale: int = 4):
    """Anti-aliased filled polygon (points in pixels) as a float mask, softened by ``blur`` px."""
    import cv2

    m = np.zeros((size, size), np.uint8)
    p = np.round(np.asarray(pts, np.float64) * scale).astype(np.int32)
    cv2.fillPoly(m, [p], 255, lineType=cv2.LINE_AA, shift=2)
    m = m.astype(np.float32) / 255
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), blur)
    return m


def _stroke_mask(size: int, pts, width: float, blur: float = 0.8):
    import cv2

    m = np.zeros((size, size), np.uint8)
    p = np.round(np.asarray(pts, np.float64) * 4).astype(np.int32)
    cv2.polylines(m, [p], False, 255, thickness=max(1, int(round(width))), lineType=cv2.LINE_AA, shift=2)
    m = m.astype(np.float32) / 255
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), blur)
    return m


def _bezier(p0, p1, p2, n=40):
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _mix(img, color, mask):
    color = np.asarray(color, np.float32).reshape(*([1] * (img.ndim - 1)), 3) / 255 if np.ndim(color) == 1 else color
    m = mask[..., None]
    return img * (1 - m) + color * m


def _noise(rng, size, sigma):
    import cv2

    n = rng.standard_normal((size, size)).astype(np.float32)
    if sigma > 0:
        n = cv2.GaussianBlur(n, (0, 0), sigma)
        n /= n.std() + 1e-6
    return n


# -- the portrait ------------------------------------------------------------------
def render_portrait(size: int = 512, seed: int = 7) -> np.ndarray:
    """An (size, size, 3) uint8 RGB portrait of a face of no real person."""
    import cv2

    rng = np.random.default_rng(seed)
    S = 512.0
    x, y = _grid(size)
    x, y = x * (S / size), y * (S / size)  # draw in 512-space whatever the size
    k = size / S  # pixel scale for blur radii

    cx, cy = 256.0, 246.0  # face centre
    fw, fh = 100.0, 132.0  # half width / half height of the face ellipse
    eye_y, eye_dx = 236.0, 43.0
    nose_y = 294.0
    mouth_y = 334.0
    chin_y = cy + fh

    # ---- background: soft studio gradient with a vignette
    bg_top = np.array([196, 208, 222], np.float32) / 255
    bg_bot = np.array([132, 150, 170], np.float32) / 255
    t = (y / S)[..., None]
    img = bg_top * (1 - t) + bg_bot * t
    vign = 1 - 0.25 * (((x - 256) / 330) ** 2 + ((y - 230) / 330) ** 2)
    img *= vign[..., None]
    img += 0.06 * _gauss(x, y, 180, 150, 150, 130)[..., None]

    # ---- face outline: wide cheeks, tapering jaw, rounded chin
    ang = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    ox, oy = np.sin(ang), -np.cos(ang)
    lower = np.clip(oy, 0, 1)
    width = fw * (1 - 0.22 * lower**2.2)
    outline = np.stack([cx + width * ox, cy + fh * oy], 1)
    face_m = _poly_mask(size, outline * k, blur=1.6 * k)

    # ---- height field of the face
    r2 = ((x - cx) / (fw * (1 - 0.22 * np.clip((y - cy) / fh, 0, 1) ** 2.2))) ** 2 + ((y - cy) / fh) ** 2
    h = np.sqrt(np.clip(1 - r2, 0, 1) + 0.06) * 60
    h += 10 * _gauss(x, y, cx, 205, 70, 18)  # brow ridge / forehead
    for sx in (-1, 1):
        h -= 9 * _gauss(x, y, cx + sx * eye_dx, eye_y + 2, 22, 14)  # eye sockets
        h += 7 * _gauss(x, y, cx + sx * 52, 282, 24, 18)  # cheekbones
        h -= 3 * _gauss(x, y, cx + sx * 40, 322, 14, 22)  # naso-labial hollows
    h += 10 * _gauss(x, y, cx, 262, 9, 30)  # nose bridge
    h += 14 * _gauss(x, y, cx, nose_y - 6, 12, 11)  # nose tip
    for sx in (-1, 1):
        h += 6 * _gauss(x, y, cx + sx * 13, nose_y - 2, 8, 7)  # alae (nostril wings)
    h -= 3 * _gauss(x, y, cx, 313, 5, 6)  # philtrum groove
    h += 5 * _gauss(x, y, cx, mouth_y - 5, 26, 5)  # upper lip
    h += 6 * _gauss(x, y, cx, mouth_y + 8, 22, 6)  # lower lip
    h -= 4 * _gauss(x, y, cx, mouth_y + 20, 20, 5)  # mentolabial sulcus
    h += 8 * _gauss(x, y, cx, chin_y - 22, 24, 14)  # chin
    h = cv2.GaussianBlur(h.astype(np.float32), (0, 0), 1.5 * k)

    gy, gx = np.gradient(h, (S / size))
    nx, ny, nz = -gx, -gy, np.ones_like(h) * 1.0
    nrm = np.sqrt(nx**2 + ny**2 + nz**2)
    nx, ny, nz = nx / nrm, ny / nrm, nz / nrm
    L = np.array([-0.45, -0.5, 0.74])
    L /= np.linalg.norm(L)
    diffuse = np.clip(nx * L[0] + ny * L[1] + nz * L[2], 0, 1)
    fill = np.clip(nx * 0.5 + ny * -0.1 + nz * 0.86, 0, 1)
    Hh = np.array([L[0], L[1], L[2] + 1])
    Hh /= np.linalg.norm(Hh)
    spec = np.clip(nx * Hh[0] + ny * Hh[1] + nz * Hh[2], 0, 1) ** 40
    # soft edge falloff so the face rolls into shadow at its outline
    edge = _smooth(0.0, 0.35, np.sqrt(np.clip(1 - r2, 0, 1)))
    shade = 0.30 + 0.62 * diffuse + 0.18 * fill
    shade = shade * (0.72 + 0.28 * edge)

    # ---- skin albedo
    skin = np.array([236, 190, 160], np.float32) / 255
    alb = np.ones((size, size, 3), np.float32) * skin
    tex = _noise(rng, size, 1.2 * k) * 0.012 + _noise(rng, size, 6 * k) * 0.02
    alb = alb * (1 + tex[..., None])
    for sx in (-1, 1):  # blush
        alb = _mix(alb, [230, 150, 140], 0.35 * _gauss(x, y, cx + sx * 55, 300, 22, 16))
    alb = _mix(alb, [220, 160, 140], 0.25 * _gauss(x, y, cx, nose_y - 6, 10, 8))

    # ---- lips (albedo)
    mw = 35.0
    up_pts = np.concatenate(
        [
            _bezier((cx - mw, mouth_y), (cx - 22, mouth_y - 8), (cx - 8, mouth_y - 12)),
            _bezier((cx - 8, mouth_y - 12), (cx, mouth_y - 8), (cx, mouth_y - 8), 8),
            _bezier((cx, mouth_y - 8), (cx, mouth_y - 8), (cx + 8, mouth_y - 12), 8),
            _bezier((cx + 8, mouth_y - 12), (cx + 22, mouth_y - 8), (cx + mw, mouth_y)),
            _bezier((cx + mw, mouth_y), (cx, mouth_y + 3), (cx - mw, mouth_y)),
        ]
    )
    lo_pts = np.concatenate(
        [
            _bezier((cx - mw, mouth_y), (cx, mouth_y + 3), (cx + mw, mouth_y)),
            _bezier((cx + mw, mouth_y), (cx + 20, mouth_y + 19), (cx, mouth_y + 18)),
            _bezier((cx, mouth_y + 18), (cx - 20, mouth_y + 19), (cx - mw, mouth_y)),
        ]
    )
    up_m = _poly_mask(size, up_pts * k, blur=0.9 * k)
    lo_m = _poly_mask(size, lo_pts * k, blur=1.1 * k)
    lip_col = np.array([200, 104, 106], np.float32)
    alb = _mix(alb, lip_col * 0.9, up_m * 0.9)
    alb = _mix(alb, lip_col * 1.03, lo_m * 0.88)

    img = img * (1 - face_m[..., None])
    face_rgb = alb * shade[..., None] + 0.10 * spec[..., None]
    # ---- neck (drawn under the face), in the face's shadow near the jaw
    neck_pts = [(cx - 46, 330), (cx + 46, 330), (cx + 50, 420), (cx + 70, 460), (cx - 70, 460), (cx - 50, 420)]
    neck_m = _poly_mask(size, np.array(neck_pts) * k, blur=2 * k)
    neck_shade = 0.42 + 0.3 * _smooth(chin_y - 5, chin_y + 60, y) - 0.12 * _smooth(0, 50, np.abs(x - cx))
    neck_rgb = skin * (neck_shade[..., None]) * np.array([0.97, 0.95, 0.95])
    neck_rgb *= 1 - 0.3 * _gauss(x, y, cx + 30, 420, 20, 60)[..., None]
    img = img * (1 - neck_m[..., None]) + neck_rgb * neck_m[..., None]

    # ---- shoulders / clothes
    sh = np.concatenate(
        [
            _bezier((0, 512), (8, 430), (118, 412)),
            _bezier((118, 412), (190, 404), (cx - 58, 438)),
            _bezier((cx - 58, 438), (cx, 486), (cx + 58, 438)),
            _bezier((cx + 58, 438), (322, 404), (394, 412)),
            _bezier((394, 412), (504, 430), (512, 512)),
        ]
    )
    sh_m = _poly_mask(size, sh * k, blur=1.5 * k)
    cloth = np.array([70, 96, 130], np.float32) / 255
    cloth_shade = (0.75 + 0.35 * _gauss(x, y, 150, 440, 90, 60) - 0.2 * _smooth(420, 512, y))[..., None]
    cloth_rgb = cloth * cloth_shade * (1 + 0.02 * _noise(rng, size, 2 * k)[..., None])
    img = img * (1 - sh_m[..., None]) + cloth_rgb * sh_m[..., None]

    # ---- hair behind the head (falls to the shoulders)
    back = np.concatenate(
        [
            _bezier((cx - 128, 420), (cx - 150, 280), (cx - 120, 170)),
            _bezier((cx - 120, 170), (cx - 80, 90), (cx, 92)),
            _bezier((cx, 92), (cx + 80, 90), (cx + 120, 170)),
            _bezier((cx + 120, 170), (cx + 150, 280), (cx + 128, 420)),
            _bezier((cx + 128, 420), (cx + 100, 440), (cx + 78, 412)),
            _bezier((cx + 78, 412), (cx + 60, 380), (cx - 78, 412)),
            _bezier((cx - 78, 412), (cx - 100, 440), (cx - 128, 420)),
        ]
    )
    back_m = _poly_mask(size, back * k, blur=2.0 * k) * (1 - face_m) * (1 - 0.8 * neck_m * _smooth(330, 380, y))
    hair = np.array([62, 40, 30], np.float32) / 255
    strands = _noise(rng, size, 0)
    strands = cv2.GaussianBlur(strands, (1, 0), sigmaX=0.6 * k, sigmaY=9 * k)
    hair_shade = (0.7 + 0.5 * _gauss(x, y, 190, 140, 60, 50) + 0.10 * strands)[..., None]
    hair_rgb = hair * hair_shade
    img = img * (1 - back_m[..., None]) + hair_rgb * back_m[..., None]

    # the face on top
    img = img * (1 - face_m[..., None]) + face_rgb * face_m[..., None]

    # ---- fringe: parted on the left, swept over the forehead to the right
    part = (cx - 38, 100)
    fr = np.concatenate(
        [
            _bezier((cx - 106, 236), (cx - 120, 136), part),
            _bezier(part, (cx + 56, 84), (cx + 110, 150)),
            _bezier((cx + 106, 150), (cx + 118, 200), (cx + 106, 252)),
            _bezier((cx + 106, 252), (cx + 88, 196), (cx + 30, 172)),
            _bezier((cx + 30, 172), (cx - 20, 152), (cx - 40, 140)),
            _bezier((cx - 40, 140), (cx - 80, 150), (cx - 96, 190)),
            _bezier((cx - 96, 190), (cx - 102, 210), (cx - 106, 236)),
        ]
    )
    fr_m = _poly_mask(size, fr * k, blur=1.4 * k)
    sweep = cv2.GaussianBlur(_noise(rng, size, 0), (0, 0), sigmaX=7 * k, sigmaY=0.8 * k)
    fr_shade = (0.72 + 0.5 * _gauss(x, y, cx - 10, 122, 55, 20) + 0.12 * sweep)[..., None]
    img = img * (1 - fr_m[..., None]) + (hair * fr_shade) * fr_m[..., None]
    # strands: thin curves from the parting, lighter and darker than the hair
    strands_m = np.zeros((size, size), np.float32)
    strands_d = np.zeros((size, size), np.float32)
    for j in range(46):
        u = j / 45
        if u < 0.3:  # to the left, down the side
            end = (cx - 104 + 8 * rng.standard_normal(), 200 + 40 * u / 0.3 + 6 * rng.standard_normal())
            ctrl = (cx - 95, 118 + 20 * u)
        else:  # across the forehead to the right temple
            v = (u - 0.3) / 0.7
            end = (cx - 10 + 120 * v + 4 * rng.standard_normal(), 150 + 95 * v**1.4 + 5 * rng.standard_normal())
            ctrl = (cx + 10 + 80 * v, 122 + 30 * v)
        start = (part[0] + 3 * rng.standard_normal(), part[1] + 2 * rng.standard_normal())
        curve = _bezier(start, ctrl, end, 30)
        target = strands_m if j % 2 else strands_d
        target += _stroke_mask(size, curve * k, 1.0 * k, blur=0.5 * k) * rng.uniform(0.3, 0.7)
    hair_all = np.clip(fr_m + back_m, 0, 1)
    img = _mix(img, hair * 1.55, np.clip(strands_m, 0, 1) * 0.35 * hair_all)
    img = _mix(img, hair * 0.6, np.clip(strands_d, 0, 1) * 0.25 * hair_all)
    # shadow the fringe casts on the forehead
    shadow = cv2.GaussianBlur(fr_m, (0, 0), 5 * k)
    img *= (1 - 0.25 * np.clip(shadow - fr_m, 0, 1) * face_m)[..., None]

    # ---- eyes
    for sx in (-1, 1):
        ex = cx + sx * eye_dx
        ew, eh = 19.0, 8.5
        inner, outer = ex - sx * ew, ex + sx * ew
        top = np.concatenate([_bezier((inner, eye_y + 1), (ex - sx * 4, eye_y - eh * 1.9), (outer, eye_y - 1))])
        bot = _bezier((outer, eye_y - 1), (ex + sx * 2, eye_y + eh * 1.35), (inner, eye_y + 1))
        eye_pts = np.concatenate([top, bot])
        eye_m = _poly_mask(size, eye_pts * k, blur=0.6 * k)
        sclera = (
            np.array([236, 232, 228], np.float32) / 255 * (0.8 + 0.2 * _smooth(eye_y - eh, eye_y + eh, y))[..., None]
        )
        img = _mix(img, sclera, eye_m)
        # iris and pupil, clipped by the lids
        ir = 8.8
        d = np.sqrt((x - ex) ** 2 + (y - eye_y) ** 2)
        iris_m = _smooth(ir + 0.7, ir - 0.7, d) * eye_m
        ang = np.arctan2(y - eye_y, x - ex)
        fibres = 0.9 + 0.1 * np.sin(ang * 23 + d * 0.7)
        iris_col = np.array([92, 64, 40], np.float32) / 255 * (0.55 + 0.6 * _smooth(ir, 2, d) * fibres)[..., None]
        iris_col = iris_col * (1 - 0.5 * _smooth(ir - 2.5, ir, d))[..., None]  # limbal ring
        img = _mix(img, iris_col, iris_m)
        pupil_m = _smooth(3.9, 3.0, d) * eye_m
        img = _mix(img, [18, 12, 10], pupil_m)
        # upper lid shadow over the eyeball
        lid_sh = _gauss(x, y, ex, eye_y - eh, 18, 4.5) * eye_m
        img *= (1 - 0.35 * lid_sh)[..., None]
        # catchlights
        hl = _smooth(2.0, 0.8, np.sqrt((x - ex + 3) ** 2 + (y - eye_y + 3.5) ** 2)) * eye_m
        img = _mix(img, [255, 255, 255], 0.95 * hl)
        hl2 = _smooth(1.0, 0.3, np.sqrt((x - ex - 3) ** 2 + (y - eye_y - 3) ** 2)) * eye_m
        img = _mix(img, [240, 240, 240], 0.6 * hl2)
        # lids: a dark upper lash line, a crease above, a soft lower lid
        lash = _stroke_mask(size, top * k, 2.6 * k, blur=0.6 * k)
        img = _mix(img, [40, 26, 22], 0.95 * lash)
        for j in range(6):  # a few lashes at the outer end
            t0 = 0.55 + j * 0.08
            p = _bezier((inner, eye_y + 1), (ex - sx * 4, eye_y - eh * 1.9), (outer, eye_y - 1), 101)[int(t0 * 100)]
            ln = _stroke_mask(size, np.array([p, p + (sx * 4.5, -4.0)]) * k, 1.2 * k, blur=0.4 * k)
            img = _mix(img, [40, 26, 22], 0.7 * ln)
        crease = _bezier((inner + sx * 2, eye_y - 5), (ex - sx * 2, eye_y - eh * 2.4), (outer + sx * 1, eye_y - 7))
        img = _mix(img, [150, 100, 85], 0.45 * _stroke_mask(size, crease * k, 1.6 * k, blur=1.0 * k) * face_m)
        img = _mix(img, [170, 115, 100], 0.35 * _stroke_mask(size, bot * k, 1.4 * k, blur=0.8 * k))
        # brows
        brow = _bezier((ex - sx * 21, eye_y - 20), (ex + sx * 2, eye_y - 34), (ex + sx * 26, eye_y - 24))
        bm = np.zeros((size, size), np.float32)
        for i in range(len(brow) - 1):
            w = 6.5 * (1 - 0.75 * (i / len(brow)) ** 1.5)
            bm = np.maximum(bm, _stroke_mask(size, brow[i : i + 2] * k, max(1, w * k), blur=0))
        bm = cv2.GaussianBlur(bm, (0, 0), 1.0 * k)
        img = _mix(img, [70, 46, 34], 0.85 * bm * (0.9 + 0.1 * sweep[..., None][..., 0]))

    # ---- nose: nostrils and a soft shadow under the tip
    for sx in (-1, 1):
        nm = _gauss(x, y, cx + sx * 8.5, nose_y + 3, 4.2, 2.2, angle=sx * 0.35)
        img *= (1 - 0.55 * nm)[..., None]
    img *= (1 - 0.18 * _gauss(x, y, cx, nose_y + 8, 16, 4))[..., None]

    # ---- mouth line and lip highlights
    line = _bezier((cx - mw + 1, mouth_y), (cx, mouth_y + 3), (cx + mw - 1, mouth_y))
    img = _mix(img, [96, 40, 42], 0.8 * _stroke_mask(size, line * k, 1.8 * k, blur=0.7 * k))
    for sx in (-1, 1):
        img = _mix(img, [120, 60, 60], 0.35 * _gauss(x, y, cx + sx * (mw - 1), mouth_y, 3, 2.5))
    img = _mix(img, [250, 205, 200], 0.35 * _gauss(x, y, cx - 6, mouth_y + 9, 9, 2.5) * lo_m)

    # ---- finish: slight grain, gamma, quantise
    img = np.clip(img, 0, 1)
    img = img ** (1 / 1.08)
    img += 0.006 * _noise(rng, size, 0.6 * k)[..., None]
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_portrait(path: Path, size: int = 512, seed: int = 7) -> Path:
    import cv2

    img = render_portrait(size, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    if not cv2.imwrite(str(tmp), img[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {tmp}")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.assets.portrait", description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    p = save_portrait(Path(args.out), args.size, args.seed)
    print(f"wrote {p} ({p.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

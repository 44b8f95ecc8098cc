"""How well a face renderer reproduces a held-out stretch of real video.

``evaluate(renderer, tail, audio, sr)`` renders the tail's audio over the tail's own
frames (the renderer's avatar is the tail, so frame ``i`` is rendered over real frame
``i``) through ``run_stage``, then measures:

* ``mouth_psnr`` (from the mean squared error over all tail frames) / ``mouth_ssim``
  (mean over frames): the mouth region (lower middle of each face box) of the rendered
  frames against the real ones;
* ``open_loud_corr``: Pearson correlation, over frames, of the mouth opening (face-mesh
  inner-lip gap / mouth width, measured on the rendered frames) with the audio loudness
  (RMS dBFS per frame, floored at -60): a mouth that follows the speech scores high;
* ``real_open_loud_corr``: the same on the real frames, the ceiling to compare with.
"""

from __future__ import annotations

import numpy as np

LOUD_FLOOR_DB = -60.0


def mouth_region(box) -> tuple[slice, slice]:
    x1, y1, x2, y2 = (int(v) for v in box)
    w, h = x2 - x1, y2 - y1
    return slice(y1 + int(0.55 * h), y2 - int(0.02 * h)), slice(x1 + int(0.2 * w), x2 - int(0.2 * w))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse <= 1e-12 else 10.0 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def mouth_openings(frames: np.ndarray) -> np.ndarray:
    """Mouth opening per frame (NaN where no face is found)."""
    from pipelines.face.avatar import landmarks

    out = np.full(len(frames), np.nan, np.float32)
    for i, f in enumerate(frames):
        lm = landmarks.face_mesh(np.ascontiguousarray(f), static=True)
        if lm is not None:
            out[i] = landmarks.mouth_opening(lm)
    return out


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) < 1e-9 or np.std(y[ok]) < 1e-9:
        return 0.0
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def loudness(audio: np.ndarray, sr: int, n: int, fps: float) -> np.ndarray:
    from pipelines.face.wav2lip.mel import frame_rms_db

    return np.maximum(frame_rms_db(audio, sr, n, fps), LOUD_FLOOR_DB)


def render_over(renderer, tail, audio: np.ndarray, sr: int) -> np.ndarray:
    """The renderer's frames for ``audio`` over the avatar ``tail`` (through a real worker)."""
    from pipelines.messages import AudioChunk, VideoChunk
    from pipelines.testing.harness import run_stage

    renderer.avatar = tail
    if hasattr(renderer, "_crops"):
        renderer._crops.clear()
    if hasattr(renderer, "compositor"):
        renderer.compositor.clear()
    out = run_stage(renderer, [AudioChunk(1, samples=np.asarray(audio, np.float32), sample_rate=int(sr))])
    return np.concatenate([m.frames for m in out if isinstance(m, VideoChunk)])


def frame_metrics(rendered: np.ndarray, tail, audio: np.ndarray, sr: int, fps: float) -> dict:
    n = min(len(rendered), len(tail.frames))
    sq, count, ss = 0.0, 0, []
    for i in range(n):
        ys, xs = mouth_region(tail.boxes[i])
        a, b = np.asarray(tail.frames[i])[ys, xs], rendered[i][ys, xs]
        sq += float(np.sum((a.astype(np.float64) - b.astype(np.float64)) ** 2))
        count += a.size
        ss.append(ssim(a, b))
    mse = sq / max(1, count)
    loud = loudness(audio, sr, n, fps)
    opening = mouth_openings(rendered[:n])
    return {
        "frames": n,
        "mouth_psnr": round(99.0 if mse <= 1e-12 else float(10.0 * np.log10(255.0**2 / mse)), 2),
        "mouth_ssim": round(float(np.mean(ss)), 4),
        "open_loud_corr": round(correlation(opening, loud), 3),
        "mean_opening": round(float(np.nanmean(opening)) if np.isfinite(opening).any() else 0.0, 4),
    }


def evaluate(renderer, tail, audio: np.ndarray, sr: int) -> dict:
    rendered = render_over(renderer, tail, audio, sr)
    return frame_metrics(rendered, tail, audio, sr, float(renderer.fps))


def real_reference(tail, audio: np.ndarray, sr: int, fps: float) -> dict:
    """The real frames against themselves: the correlation a perfect renderer reaches."""
    n = len(tail.frames)
    opening = mouth_openings(np.asarray(tail.frames))
    return {"frames": n, "open_loud_corr": round(correlation(opening, loudness(audio, sr, n, fps)), 3)}

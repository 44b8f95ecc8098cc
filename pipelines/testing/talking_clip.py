"""A talking-head clip with a known mouth: the bundled portrait animated by ``warp``, speaking espeak speech.

``make_talking_clip`` speaks some sentences with espeak-ng, renders the portrait with
the warp face renderer (through ``run_stage``, as the engine would) and writes the
frames with their sound as an H.264 + AAC MP4.  The warp renderer's mouth follows the
audio, so the clip is a ground truth for a lip-sync model: tests train on its head
and check on its tail.  ``silent=True`` writes the same frames with no sound at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SENTENCES = (
    "Hello, it is nice to meet you.",
    "The quick brown fox jumps over the lazy dog.",
    "How are you doing today? I am fine, thank you.",
    "We can talk about music, books and the weather.",
    "Open your mouth wide and say ah, then close it.",
)


def espeak_speech(seconds: float, gap_s: float = 0.3, lead_s: float = 0.4) -> tuple[np.ndarray, int]:
    """About ``seconds`` of espeak-ng speech (sentences with short pauses), after ``lead_s`` of silence.

    The sentences are spoken in a fresh process (``fresh_espeak``), so a clip is the same
    whatever the calling process synthesised before."""
    from pipelines.testing.fresh_espeak import speak_fresh

    spoken, sr = speak_fresh(SENTENCES)
    parts = [np.zeros(int(lead_s * sr), np.float32)]
    total, k = lead_s, 0
    while total < seconds:
        pcm = spoken[k % len(spoken)].astype(np.float32) / 32768.0
        parts += [pcm, np.zeros(int(gap_s * sr), np.float32)]
        total += len(pcm) / sr + gap_s
        k += 1
    audio = np.concatenate(parts)[: int(seconds * sr)]
    return audio, sr


def render_talking(seconds: float, side: int = 256, fps: float = 25.0) -> tuple[np.ndarray, np.ndarray, int]:
    """(frames (N, side, side, 3) uint8, audio, sample rate) of the portrait speaking."""
    import cv2

    from pipelines.face.avatar.enroll import build_avatar
    from pipelines.face.warp.renderer import WarpRenderer
    from pipelines.messages import AudioChunk, VideoChunk
    from pipelines.paths import SOURCE_DIR
    from pipelines.persona import Persona
    from pipelines.settings import Settings
    from pipelines.testing.harness import run_stage

    folder = Path(SOURCE_DIR) / "default"
    avatar, _ = build_avatar([folder / "portrait.png"])
    settings = Settings()
    settings.face.fps = int(fps)
    stage = WarpRenderer.from_settings(settings, Persona.load(folder), avatar=avatar)
    stage.load()
    audio, sr = espeak_speech(seconds)
    out = run_stage(stage, [AudioChunk(1, samples=audio, sample_rate=sr)])
    chunks = [m for m in out if isinstance(m, VideoChunk)]
    frames = np.concatenate([c.frames for c in chunks])
    sound = np.concatenate([c.audio for c in chunks])
    small = np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in frames])
    return small, sound, sr


def make_talking_clip(
    path: str | Path, seconds: float = 6.0, side: int = 256, fps: float = 25.0, silent: bool = False
) -> Path:
    from pipelines.face.avatar.video_io import write_clip

    frames, audio, sr = render_talking(seconds, side, fps)
    return write_clip(path, frames, fps=fps, audio=None if silent else audio, sample_rate=sr)

"""Streaming H.264 + AAC MP4 writer (PyAV, which bundles FFmpeg).

Frames and audio are appended chunk by chunk as the renderer produces them, so
a long reply never sits in memory, and ``close`` finalises the file.  The file
is written under a temporary name and renamed when complete: a crash never
leaves a half-written ``.mp4`` behind under the final name.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..optional import require


class Mp4Writer:
    def __init__(
        self, path: str | os.PathLike, fps: float, sample_rate: int, crf: int = 23, preset: str = "ultrafast"
    ) -> None:
        self.av = require("av", "av", "writing MP4 files")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.fps = fps
        self.sample_rate = int(sample_rate)
        self.crf = crf
        self.preset = preset
        self.container = self.av.open(str(self.tmp_path), mode="w", format="mp4")
        self.vstream = None
        self.astream = self.container.add_stream("aac", rate=self.sample_rate)
        self.astream.layout = "mono"
        self.frames_written = 0
        self.samples_written = 0
        self._size: tuple[int, int] | None = None

    def _open_video(self, h: int, w: int) -> None:
        fps = Fraction(self.fps).limit_denominator(1001)
        self.vstream = self.container.add_stream("libx264", rate=fps)
        self.vstream.width, self.vstream.height = w - w % 2, h - h % 2
        self.vstream.pix_fmt = "yuv420p"
        self.vstream.options = {"crf": str(self.crf), "preset": self.preset, "tune": "zerolatency"}
        self._size = (self.vstream.height, self.vstream.width)

    def write(self, frames: np.ndarray, audio: np.ndarray) -> None:
        """Append RGB frames (N,H,W,3) uint8 and their mono float32 audio."""
        if len(frames):
            if self.vstream is None:
                self._open_video(frames.shape[1], frames.shape[2])
            h, w = self._size
            for img in frames:
                vf = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h, :w]), format="rgb24")
                for packet in self.vstream.encode(vf):
                    self.container.mux(packet)
                self.frames_written += 1
        if len(audio):
            pcm = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0).reshape(1, -1)
            af = self.av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            af.sample_rate = self.sample_rate
            af.pts = self.samples_written
            af.time_base = Fraction(1, self.sample_rate)
            for packet in self.astream.encode(af):
                self.container.mux(packet)
            self.samples_written += pcm.shape[1]

    def close(self) -> Path:
        """Flush the encoders and move the finished file into place."""
        for stream in (self.vstream, self.astream):
            if stream is not None:
                for packet in stream.encode(None):
                    self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (interrupted turn)."""
        try:
            self.container.close()
        except Exception:
            pass
        try:
            os.unlink(self.tmp_path)
        except FileNotFoundError:
            pass


def probe_durations(path: str | os.PathLike) -> dict[str, float]:
    """Durations (s) of the video and audio streams of a media file, by decoding."""
    av = require("av", "av", "reading media files")
    out: dict[str, float] = {}
    with av.open(str(path)) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        if v is not None:
            n = sum(1 for _ in c.decode(v))
            out["video"] = n / float(v.average_rate)
            out["video_frames"] = n
            out["video_codec"] = v.codec_context.name
    if a is not None:
        with av.open(str(path)) as c:
            a = c.streams.audio[0]
            samples = sum(f.samples for f in c.decode(a))
            out["audio"] = samples / float(a.rate)
            out["audio_codec"] = a.codec_context.name
    return out

"""Sinks: the last stage of a turn.  ``FileSink`` writes one MP4 per turn."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .atomic_files import remove_stale
from .media.mp4_writer import Mp4Writer
from .messages import VideoChunk
from .output_paths import is_mp4
from .stage import Stage, TurnContext

TURN_FILE = re.compile(r"turn-\d{8}-\d{6}-\d{3,}\.mp4")


class FileSink(Stage):
    """Streams each turn's video chunks into ``<out_dir>/turn-<stamp>-<id>.mp4``.

    With ``out_path`` the first turn goes exactly there and later turns get a
    ``-2``, ``-3`` … suffix.  An interrupted turn's partial file is removed.
    """

    name = "sink"
    backend = "mp4"

    def __init__(
        self, out_dir: str | Path, out_path: str | Path | None = None, keep_turns: int = 0, keep_mb: float = 0.0
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_path = Path(out_path) if out_path else None
        self.keep_turns = int(keep_turns)
        self.keep_mb = float(keep_mb)
        self._writers: dict[int, Mp4Writer] = {}
        self._count = 0

    def load(self) -> None:
        """Remove ``.turn-*.partial.mp4`` left by earlier runs that were killed mid-turn."""
        remove_stale(self.out_dir, (".turn-*.partial.mp4",))

    def _path_for(self, turn_id: int) -> Path:
        self._count += 1
        if self.out_path is not None:
            if self._count == 1:
                return self.out_path
            while True:  # later turns: -2, -3 …, stepping over any file there that is not an MP4
                p = self.out_path.with_name(f"{self.out_path.stem}-{self._count}{self.out_path.suffix}")
                if not p.exists() or (p.is_file() and is_mp4(p)):
                    return p
                self._count += 1
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return self.out_dir / f"turn-{stamp}-{turn_id:03d}.mp4"

    def process(self, msg, ctx: TurnContext):
        if isinstance(msg, VideoChunk):
            writer = self._writers.get(msg.turn_id)
            if writer is None:
                writer = Mp4Writer(self._path_for(msg.turn_id), msg.fps, msg.sample_rate)
                self._writers[msg.turn_id] = writer
            writer.write(msg.frames, msg.audio)
        return ()

    def end_turn(self, ctx: TurnContext):
        writer = self._writers.pop(ctx.turn_id, None)
        if writer is not None:
            ctx.info["video_path"] = str(writer.close())
            if self.keep_turns > 0 or self.keep_mb > 0:
                self.prune(self.keep_turns, keep_bytes=int(self.keep_mb * 1_000_000))
        return ()

    def prune(self, keep: int = 0, keep_bytes: int = 0) -> list[Path]:
        """Remove the oldest of our own ``turn-<stamp>-<id>.mp4`` in ``out_dir``.

        ``keep`` > 0: at most that many stay; ``keep_bytes`` > 0: the oldest go while
        the ones left (ours only) add up to more than that, but the newest always
        stays.  Never anything else: not ``--out`` files, not other names, not a file
        with a second hard link (the user saved it elsewhere).
        """
        ours = []
        for p in self.out_dir.glob("turn-*.mp4"):
            if not TURN_FILE.fullmatch(p.name) or p.is_symlink() or not p.is_file():
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            if st.st_nlink > 1:
                continue
            ours.append((st.st_mtime, p.name, st.st_size, p))
        ours.sort()
        doomed = ours[: max(0, len(ours) - keep)] if keep > 0 else []
        left = ours[len(doomed) :]
        if keep_bytes > 0:
            total = sum(size for _, _, size, _ in left)
            while len(left) > 1 and total > keep_bytes:
                total -= left[0][2]
                doomed.append(left.pop(0))
        removed = []
        for _, _, _, p in doomed:
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
        return removed

    def cancel_turn(self, turn_id: int) -> None:
        writer = self._writers.pop(turn_id, None)
        if writer is not None:
            writer.abort()

    def close(self) -> None:
        for turn_id in list(self._writers):
            self.cancel_turn(turn_id)

"""Where the engine may write: checked before any model loads, so a bad path costs nothing.

Never overwrite something the user made: an ``--out`` that exists must be an MP4
(an ISO-BMFF file with an ``ftyp`` box, as our writer makes); a folder or a path
inside ``source/`` (the personas) is refused.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputPathError(ValueError):
    """An output path the engine must not or cannot write."""


def is_mp4(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[4:8] == b"ftyp"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_writable_dir(folder: Path, what: str) -> None:
    """``folder`` exists (or can be made) and a file can be created in it; else one clear line."""
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{what} {folder} is a file, not a folder: choose a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(
            f"{what} {folder} is not writable ({exc.strerror or exc}): "
            "choose a folder you can write to, or free some space"
        ) from None


def check_out_file(out: str | os.PathLike, source_dir: Path) -> Path:
    """The MP4 path of ``--out`` if it is safe to (over)write; else ``OutputPathError``."""
    p = Path(out).expanduser()
    if p.is_dir():
        raise OutputPathError(f"--out {p} is a folder: give a file name such as {p / 'reply.mp4'}")
    if _inside(p, source_dir):
        raise OutputPathError(
            f"--out {p} is inside {source_dir} (the persona folders): write videos elsewhere, e.g. output/reply.mp4"
        )
    if p.exists() and not is_mp4(p):
        raise OutputPathError(
            f"--out {p} exists and is not an MP4 video: refusing to overwrite it; choose a new file name"
        )
    if p.suffix.lower() != ".mp4":
        raise OutputPathError(f"--out {p}: the video is an MP4, give a name ending in .mp4")
    check_writable_dir(p.parent if str(p.parent) else Path("."), "the folder of --out")
    return p


def check_out_folder(folder: str | os.PathLike, what: str = "--out") -> Path:
    """A folder a tool will create or fill: not a file, and writable; nothing is created here."""
    p = Path(folder).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{what} {p} is a file, not a folder: choose a folder name (nothing was changed)")
    probe_in = p
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise OutputPathError(f"{what} {p} cannot be created: {probe_in} is a file; choose another folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=probe_in)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(
            f"{what} {p} is not writable ({exc.strerror or exc} in {probe_in}): choose a folder "
            "you can write to, or free some space"
        ) from None
    return p

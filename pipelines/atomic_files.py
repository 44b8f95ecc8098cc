"""Write files and folders so that readers see the old or the new version, never half of one.

Everything the user makes (settings, checkpoints, enrolled faces, voices) goes
through here: the new content is written next to its final place under a
hidden temporary name, flushed, and renamed over the old one only when it is
complete.  A failure (or a kill) leaves the old version untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    ``with atomic_path(p) as tmp: torch.save(obj, tmp)``
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a folder's entries (renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces the folder ``path``.

    An existing folder is renamed aside (``.NAME.old-*``) first, put back if the
    new one cannot be renamed in, and removed only after the new one is in place.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.new-", dir=final.parent))
    os.chmod(tmp, 0o755)
    old = None
    try:
        yield tmp
        fsync_dir(tmp)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            os.replace(final, old)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)  # put the old version back
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- stale temporaries ----------------------------------------------------------
STALE_QUIET_S = 300.0  # a temporary written to in the last 5 minutes may belong to a live process


def process_start_time() -> float:
    """When this process started (epoch seconds); the import time where /proc is not there."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        btime = next(int(ln.split()[1]) for ln in Path("/proc/stat").read_text().splitlines() if ln.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED


_IMPORTED = time.time()


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except OSError:
                    pass
    return newest


def _pid_alive(name: str) -> bool:
    """``.X.old-<pid>-<ns>``: is that writer still running (and not us)?"""
    m = name.rsplit(".old-", 1)
    if len(m) != 2 or not m[1].split("-", 1)[0].isdigit():
        return False
    pid = int(m[1].split("-", 1)[0])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale(
    folder: str | os.PathLike, patterns: tuple[str, ...], *, keep_if_missing: bool = True, started: float | None = None
) -> list[Path]:
    """Remove our own leftover temporaries in ``folder`` matching ``patterns`` (hidden names only).

    Only entries older than this process (and untouched for ``STALE_QUIET_S``) go,
    never one whose writer is still alive.  ``keep_if_missing``: a ``.NAME.old-*``
    stays while ``NAME`` itself is missing (it is then the only copy).
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    limit = min(started if started is not None else process_start_time(), time.time() - STALE_QUIET_S)
    removed = []
    for pattern in patterns:
        assert pattern.startswith("."), "only hidden temporaries are ever cleaned"
        for p in sorted(root.glob(pattern)):
            name = p.name
            if ".old-" in name:
                if _pid_alive(name):
                    continue
                if keep_if_missing and not (root / name[1:].split(".old-", 1)[0]).exists():
                    continue
            try:
                if _newest_mtime(p) >= limit:
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
            except OSError:
                continue
    return removed

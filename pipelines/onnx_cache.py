"""Where ONNX exports of a checkpoint are cached: next to the checkpoint, keyed by its content hash.

Shared by the Wav2Lip and so-vits ONNX paths.  A cached file is named
``<stem>.<first 16 hex of the checkpoint's SHA-1>.<tag>.onnx``: a changed checkpoint has another
hash, so it gets a new export, and a stale one is never used.  The file lives beside the
checkpoint when that folder is writable, else in ``~/.cache/digital-persona/<kind>/``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path


def file_sha1(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes (remembered per path, size and modification time)."""
    st = os.stat(path)
    return _sha1(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha1(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir(kind: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "digital-persona" / kind


def checkpoint_key(*files: str | os.PathLike) -> str:
    """16 hex digits of the SHA-1 of one file, or of several files' hashes together."""
    if len(files) == 1:
        return file_sha1(files[0])[:16]
    return hashlib.sha1("".join(file_sha1(f) for f in files).encode()).hexdigest()[:16]


def cached_name(checkpoint: str | os.PathLike, tag: str, key: str | None = None) -> str:
    pth = Path(checkpoint)
    return f"{pth.stem}.{key or checkpoint_key(pth)}.{tag}.onnx"


def writable(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".onnx-probe-"):
            return True
    except OSError:
        return False


def find_cached(checkpoint: str | os.PathLike, name: str, kind: str) -> Path | None:
    """The cached file ``name`` beside ``checkpoint`` or in the user cache, or None."""
    for folder in (Path(checkpoint).parent, cache_dir(kind)):
        if (folder / name).is_file():
            return folder / name
    return None


def target_folder(checkpoint: str | os.PathLike, kind: str) -> Path:
    """Where a new export of ``checkpoint`` goes (created)."""
    parent = Path(checkpoint).parent
    folder = parent if writable(parent) else cache_dir(kind)
    folder.mkdir(parents=True, exist_ok=True)
    return folder

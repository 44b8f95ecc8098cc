"""Makes ``so-vits-svc-fork`` 4.2.30 import and run next to this project's CPU torch, offline.

Measured problems and what this module does about each (call ``import_fork()``
before touching any ``so_vits_svc_fork`` module):

1. ``torchaudio``: the fork (and torchcrepe) import it at module level; the PyPI
   wheel is a CUDA build that fails to load next to the CPU torch, and while it
   is installed even ``transformers`` model imports fail (transformers imports
   any installed torchaudio).  The install step therefore never installs it
   (``torchcrepe`` and the fork go in with ``--no-deps``, see
   ``requirements-nodeps.txt``) and ``python -m pipelines.voice.sovits_compat --fix``
   uninstalls a broken one left from an earlier install.  At run time
   ``ensure_torchaudio()`` uses the real package when it loads (GPU users may
   install the torchaudio build matching their torch) and otherwise registers
   ``pipelines.voice.torchaudio_shim`` (pure torch) under the name ``torchaudio``.
2. ``get_hubert_model`` hard-codes a hub id: routed to ``contentvec.load_contentvec``
   with the folder from the settings (``contentvec_source``); without one it
   raises a clear error instead of calling a hub.
3. ``ensure_pretrained_model`` downloads and crashes offline: replaced by a
   local-only version that returns the files already present.
4. numpy 2 / matplotlib ≥ 3.10 removed ``np.fromstring`` binary mode and
   ``canvas.tostring_argb``: the two plot helpers are replaced.
5. pyworld needs ``setuptools<81`` to build from source: the install uses
   ``pyworld-prebuilt`` (wheels that ship the same ``pyworld`` module).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

_LOCK = threading.RLock()
_PATCHED = False
_SOURCE: dict[str, Any] = {"path": None}
TORCHAUDIO_MODE_ENV = "PIPELINES_TORCHAUDIO"  # "auto" (default), "shim" or "real"


def torchaudio_kind() -> str:
    """'real', 'shim' or 'missing' for the ``torchaudio`` currently importable in this process."""
    mod = sys.modules.get("torchaudio")
    if mod is None:
        return "missing"
    return "shim" if getattr(mod, "IS_PIPELINES_SHIM", False) else "real"


def _drop_torchaudio_modules() -> None:
    for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
        del sys.modules[name]


def ensure_torchaudio() -> str:
    """Make ``import torchaudio`` work; returns 'real' or 'shim'."""
    with _LOCK:
        kind = torchaudio_kind()
        if kind != "missing":
            return kind
        mode = os.environ.get(TORCHAUDIO_MODE_ENV, "auto").lower()
        if mode != "shim":
            try:
                importlib.import_module("torchaudio")
                importlib.import_module("torchaudio.transforms")
                return "real"
            except Exception as exc:  # ImportError, or OSError from the CUDA build's extension
                _drop_torchaudio_modules()
                if mode == "real":
                    raise ImportError(f"{TORCHAUDIO_MODE_ENV}=real but torchaudio does not load: {exc}") from exc
        from . import torchaudio_shim
        from .torchaudio_shim import functional, transforms

        sys.modules["torchaudio"] = torchaudio_shim
        sys.modules["torchaudio.functional"] = functional
        sys.modules["torchaudio.transforms"] = transforms
        return "shim"


# -- ContentVec routing ----------------------------------------------------------
@contextlib.contextmanager
def contentvec_source(path: str | os.PathLike) -> Iterator[None]:
    """Within this block the fork's ``get_hubert_model`` loads the encoder from ``path``."""
    with _LOCK:
        previous = _SOURCE["path"]
        _SOURCE["path"] = path
        try:
            yield
        finally:
            _SOURCE["path"] = previous


def get_hubert_model(device: Any = "cpu", final_proj: bool = True):
    """Replacement for ``so_vits_svc_fork.utils.get_hubert_model``: local folder only."""
    from .contentvec import ContentVecError, load_contentvec

    path = _SOURCE["path"]
    if path is None:
        raise ContentVecError(
            "so-vits asked for the ContentVec encoder but no local folder is configured; "
            "set voice.sovits.contentvec_dir (nothing is downloaded from a hub)"
        )
    return load_contentvec(path, device=device, final_proj=final_proj)


def ensure_pretrained_model(folder_path: Any, type_: Any, **_: Any):
    """Offline replacement: the pretrained files already in ``folder_path``, or None."""
    folder = Path(folder_path)
    names = list(type_.keys()) if isinstance(type_, dict) else ["G_0.pth", "D_0.pth"]
    paths = tuple(folder / n for n in names)
    return paths if all(p.is_file() for p in paths) else None


def _figure_to_rgb(fig) -> Any:
    import numpy as np

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])


def plot_spectrogram_to_numpy(spectrogram) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 2))
    im = ax.imshow(spectrogram, aspect="auto", origin="lower", interpolation="none")
    plt.colorbar(im, ax=ax)
    ax.set_xlabel("Frames")
    ax.set_ylabel("Channels")
    fig.tight_layout()
    data = _figure_to_rgb(fig)
    plt.close(fig)
    return data


def plot_data_to_numpy(x, y) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 2))
    ax.plot(x)
    ax.plot(y)
    fig.tight_layout()
    data = _figure_to_rgb(fig)
    plt.close(fig)
    return data


def import_fork():
    """Import ``so_vits_svc_fork`` with every fix above applied; returns its ``utils`` module."""
    global _PATCHED
    from ..optional import require

    with _LOCK:
        ensure_torchaudio()
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        capturing = getattr(logging, "_warnings_showwarning", None) is not None
        require(
            "so_vits_svc_fork",
            "so-vits-svc-fork",
            "the sovits voice backend (installed with --no-deps from requirements-nodeps.txt)",
        )
        # importing the fork configures the root logger (rich handler, INFO) and captures warnings:
        # undo that, and keep its per-call timing messages out of our output
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        if not capturing:
            logging.captureWarnings(False)
        logging.getLogger("so_vits_svc_fork").setLevel(logging.WARNING)
        utils = importlib.import_module("so_vits_svc_fork.utils")
        if not _PATCHED:
            utils.get_hubert_model = get_hubert_model
            utils.ensure_pretrained_model = ensure_pretrained_model
            utils.plot_spectrogram_to_numpy = plot_spectrogram_to_numpy
            utils.plot_data_to_numpy = plot_data_to_numpy
            _PATCHED = True
        return utils


# -- install check -------------------------------------------------------------
def _torchaudio_loads_in_subprocess() -> tuple[bool, str]:
    code = "import torchaudio, torchaudio.transforms; print(torchaudio.__version__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout.strip() or r.stderr.strip().splitlines()[-1:] or [""])[0]


def _installed(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.voice.sovits_compat [--fix]``: check (and repair) the so-vits install."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m pipelines.voice.sovits_compat",
        description="check that so-vits-svc-fork imports next to the installed torch",
    )
    ap.add_argument(
        "--fix",
        action="store_true",
        help="uninstall a torchaudio wheel that cannot load next to this torch (it breaks transformers)",
    )
    args = ap.parse_args(argv)
    ta_version = _installed("torchaudio")
    if ta_version:
        ok, detail = _torchaudio_loads_in_subprocess()
        if ok:
            print(f"torchaudio {ta_version}: loads, the real package is used")
        elif args.fix:
            print(
                f"torchaudio {ta_version} cannot load next to this torch ({detail}); uninstalling it "
                "(the pure-torch stand-in pipelines/voice/torchaudio_shim is used instead)"
            )
            subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "torchaudio"], check=True)
        else:
            print(
                f"torchaudio {ta_version} cannot load next to this torch ({detail}); it also breaks "
                "transformers. Run with --fix to uninstall it.",
                file=sys.stderr,
            )
            return 1
    else:
        print("torchaudio not installed: the pure-torch stand-in is used")
    problems = []
    for module, dist in (
        ("so_vits_svc_fork", "so-vits-svc-fork"),
        ("torchcrepe", "torchcrepe"),
        ("pyworld", "pyworld-prebuilt"),
        ("parselmouth", "praat-parselmouth"),
        ("sklearn", "scikit-learn"),
        ("cm_time", "cm-time"),
        ("attrs", "attrs"),
        ("requests", "requests"),
        ("joblib", "joblib"),
        ("resampy", "resampy"),
    ):
        try:
            if module in ("so_vits_svc_fork", "torchcrepe"):
                ensure_torchaudio()
            importlib.import_module(module)
        except Exception as exc:
            problems.append(f"{dist}: {type(exc).__name__}: {exc}")
    if not problems:
        try:
            import_fork()
            for m in (
                "so_vits_svc_fork.inference.core",
                "so_vits_svc_fork.modules.mel_processing",
                "so_vits_svc_fork.modules.descriminators",
                "so_vits_svc_fork.modules.losses",
            ):
                importlib.import_module(m)
        except Exception as exc:
            problems.append(f"so_vits_svc_fork modules: {type(exc).__name__}: {exc}")
    if problems:
        print("so-vits backend NOT usable:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"so-vits backend ready (so-vits-svc-fork {_installed('so-vits-svc-fork')}, torchaudio: {torchaudio_kind()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

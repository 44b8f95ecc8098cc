"""Lazy imports of heavy or optional libraries with a message that says what to do."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependency(ImportError):
    pass


def require(module: str, package: str | None = None, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise an error naming the pip package and what it is for."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module.split(".")[0]
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingDependency(
            f"Python package '{pkg}' is missing{why}: {exc}. "
            f"Run 'make install' (or '.venv/bin/pip install -r requirements.txt')."
        ) from exc

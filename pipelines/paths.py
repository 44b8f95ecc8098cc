"""Where the project's folders are: the one definition of the repository root."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = REPO_ROOT / "source"  # personas
MODULE_DIR = REPO_ROOT / "module"  # model folders
OUTPUT_DIR = REPO_ROOT / "output"  # turn videos and the conversation log
DEFAULT_PERSONA = SOURCE_DIR / "default"

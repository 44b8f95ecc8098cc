"""What a stage backend may know beyond its own settings section.

Each backend is built from its own typed section (``ChatGLMSettings``, ``Wav2LipSettings``,
…, see ``Stage.settings_section``) plus this small environment: the compute device and
threads, the reply language, the face stage's shared options (frame rate, which face and
how it is enrolled) and how settings paths are resolved.  No backend sees the whole
``Settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import REPO_ROOT

if TYPE_CHECKING:
    from .settings import FaceSettings, Settings


@dataclass(frozen=True)
class StageEnv:
    device: str = "cpu"  # resolved: "cpu" or "cuda"
    threads: int = 0  # CPU threads for models (0: all cores)
    language: str = "auto"  # reply language: auto | zh | en
    face: "FaceSettings" = field(default=None)  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.face is None:
            from .settings import FaceSettings

            object.__setattr__(self, "face", FaceSettings())

    @classmethod
    def from_settings(cls, settings: "Settings") -> "StageEnv":
        return cls(
            device=settings.resolved_device(),
            threads=int(settings.threads),
            language=settings.language,
            face=settings.face,
        )

    @property
    def fps(self) -> float:
        return float(self.face.fps)

    def resolve(self, value: str) -> Path:
        """A path from the settings (relative paths from the repository root, ``~`` expanded)."""
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else REPO_ROOT / p

"""Which face a persona shows: its enrolled avatar, or its portrait enrolled on first use.

Kept apart from ``storage`` (which only reads and writes avatar folders) so that
storage never imports enrollment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.face.avatar.enroll import build_avatar
from pipelines.face.avatar.storage import (
    _LOCK,
    Avatar,
    AvatarError,
    _cached_read,
    _recover,
    file_sha1,
    read_meta,
    save_avatar,
)

if TYPE_CHECKING:
    from pipelines.settings import Settings
    from pipelines.stage_env import StageEnv

log = logging.getLogger(__name__)


def load_avatar(persona, settings: Settings | StageEnv) -> Avatar:
    """The face to animate.

    ``settings.face.face`` (an enrolled avatar folder) if set; else the persona's
    ``avatar/`` folder if enrolled; else the persona's portrait, enrolled into
    ``persona.avatar_dir`` on first use (and again when the portrait changes).
    """
    with _LOCK:
        if settings.face.face:
            folder = settings.resolve(settings.face.face)
            _recover(folder)
            if read_meta(folder) is None:
                raise AvatarError(
                    f"face.face: {folder} is not an enrolled avatar folder (no meta.json). "
                    f"Enroll one with 'python -m pipelines enroll --name NAME clip.mp4' "
                    f"or clear face.face to use the persona's own face."
                )
            return _cached_read(folder)
        folder = Path(persona.avatar_dir)
        _recover(folder)
        meta = read_meta(folder)
        portrait = Path(persona.portrait) if persona.portrait else None
        if meta is not None:
            stale = (
                meta.get("kind") == "portrait"
                and portrait is not None
                and portrait.is_file()
                and meta.get("source_sha1") != [file_sha1(portrait)]
            )
            if not stale:
                return _cached_read(folder)
            log.info("portrait of %s changed: enrolling it again", persona.name)
        if portrait is None or not portrait.is_file():
            raise AvatarError(
                f"persona '{persona.name}' ({persona.root}) has no face: add portrait.png "
                f"or enroll clips with 'python -m pipelines enroll --name {persona.name} clip.mp4'"
            )
        f = settings.face
        avatar, report = build_avatar(
            [portrait],
            max_side=int(f.enroll_max_side),
            pads=f.pads or None,
            box=f.box or None,
            nosmooth=bool(f.nosmooth),
        )
        try:
            save_avatar(avatar, folder, report)
        except OSError as exc:  # read-only persona folder: use it from memory
            log.warning("could not cache the enrolled portrait in %s (%s); using it uncached", folder, exc)
            return avatar
        return _cached_read(folder)

"""Which face a persona shows: its enrolled avatar, or its portrait enrolled on first use.

Kept apart from ``storage`` (which only reads and writes avatar folders) so that
storage never imports enrollment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.face.avatar.enroll import EnrollmentError, build_avatar, enroll_options
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
    ``persona.avatar_dir`` on first use, and again (atomically) when the portrait or
    the enrollment options (``face.pads``, ``face.box``, ``face.nosmooth``,
    ``face.enroll_max_side``) change.  Faces enrolled from clips are never re-enrolled.
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
        f = settings.face
        kwargs = dict(
            max_side=int(f.enroll_max_side),
            pads=f.pads or None,
            box=f.box or None,
            nosmooth=bool(f.nosmooth),
        )
        if meta is not None:
            portrait_cache = meta.get("kind") == "portrait" and portrait is not None and portrait.is_file()
            if not portrait_cache:
                return _cached_read(folder)
            if meta.get("source_sha1") != [file_sha1(portrait)]:
                log.info("portrait of %s changed: enrolling it again", persona.name)
            elif meta.get("options") != _options(kwargs):
                log.info("enrollment options for %s changed: enrolling its portrait again", persona.name)
            else:
                return _cached_read(folder)
        if portrait is None or not portrait.is_file():
            raise AvatarError(
                f"persona '{persona.name}' ({persona.root}) has no face: add portrait.png "
                f"or enroll clips with 'python -m pipelines enroll --name {persona.name} clip.mp4'"
            )
        avatar, report = build_avatar([portrait], **kwargs)
        try:
            save_avatar(avatar, folder, report)
        except OSError as exc:  # read-only persona folder: use it from memory
            log.warning("could not cache the enrolled portrait in %s (%s); using it uncached", folder, exc)
            return avatar
        return _cached_read(folder)


def _options(kwargs: dict) -> dict | None:
    """The normalised options as ``build_avatar`` records them (None: they do not parse, so enroll to say why)."""
    try:
        return enroll_options(**kwargs)
    except EnrollmentError:
        return None

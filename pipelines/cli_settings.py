"""The settings object as command-line options: ``--face.fps 30``, ``--voice.vc_backend sovits``.

Every leaf field of ``Settings`` becomes an option with its help text and
choices, so the CLI, the settings file and the settings panel share one
description.
"""

from __future__ import annotations

import argparse

from .settings import Settings, SettingsError, iter_fields, load_settings
from .settings_migration import LEGACY_NAMES


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override the settings file)")
    group.add_argument("--settings", metavar="FILE", help="settings JSON file (default: settings.json if present)")
    for name, f, value in iter_fields(Settings()):
        meta = f.metadata
        kwargs = {
            "dest": f"set__{name}",
            "default": None,
            "metavar": type(value).__name__.upper(),
            "help": f"{meta.get('help', '')} (default: {value!r})",
        }
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
            kwargs.pop("metavar")
        group.add_argument(f"--{name}", **kwargs)
    for old in LEGACY_NAMES:  # an earlier version's names still work (hidden from --help)
        group.add_argument(f"--{old}", dest=f"set__{old}", default=None, help=argparse.SUPPRESS)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Load the settings file, then apply every option given on the command line."""
    settings = load_settings(getattr(args, "settings", None))
    errors = []
    for key, value in vars(args).items():
        if key.startswith("set__") and value is not None:
            try:
                settings = settings.replace(key[len("set__") :], value)
            except SettingsError as exc:
                errors += exc.errors
    if errors:
        raise SettingsError(errors)
    return settings

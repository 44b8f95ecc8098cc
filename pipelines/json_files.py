"""Read a JSON object file; any problem is one line naming the file and saying what to do."""

from __future__ import annotations

import json
from pathlib import Path


def read_json_object(path: Path, error: type[Exception], example: str = "") -> dict:
    """The JSON object in ``path``, or ``error`` with one line naming the file and what to do."""
    see = f" (see {example})" if example else ""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not a text file (byte {exc.start} is not UTF-8): it must be a UTF-8 JSON object; "
            f"restore it or write it again{see}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; fix it (a missing "
            f"comma, quote or brace?){see}"
        ) from None
    if not isinstance(data, dict):
        raise error(f"{path}: must be a JSON object {{...}}, got a {json_type(data)}{see}")
    return data


def json_type(value) -> str:
    return {list: "list", str: "string", bool: "true/false", int: "number", float: "number", type(None): "null"}.get(
        type(value), type(value).__name__
    )

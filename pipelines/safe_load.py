"""One clear line for a checkpoint that ``torch.load(weights_only=True)`` refused or could not read."""

from __future__ import annotations

import pickle
import re


def load_error_line(exc: BaseException) -> str:
    """What went wrong reading a checkpoint, in one line (no torch hints or tracebacks)."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text:
        m = re.search(r"(?:GLOBAL|global)[: ]+([\w.]+)", text)
        what = f" ({m.group(1)})" if m else ""
        return (
            f"refused: the file asks to run code or build objects other than tensors{what}, "
            "so it is not a plain weights file and may be malicious; nothing from it was run"
        )
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:200]}"


def weights_problem(exc: BaseException, what: str = "the folder") -> str:
    """A loader's exception as one line with what to do (damaged safetensors get their own advice)."""
    name = type(exc).__name__
    first = (str(exc).splitlines() or [""])[0][:200]
    if (
        "safetensor" in name.lower()
        or "safetensor" in first.lower()
        or "HeaderTooLarge" in first
        or "incomplete metadata" in first.lower()
    ):
        return (
            f"a .safetensors weights file is damaged or cut short ({name}: {first}); "
            f"copy {what} again (an interrupted download or copy?)"
        )
    return f"{name}: {first}"

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
        return (f"refused: the file asks to run code or build objects other than tensors{what}, "
                "so it is not a plain weights file and may be malicious; nothing from it was run")
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:200]}"

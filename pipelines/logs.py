"""Logging for every entry point (CLIs, ``main_demo.py``, the app), configured in one place.

Quiet by default: warnings and errors of the project, nothing from mediapipe's C++ side
(TFLite, absl) or the model libraries' chatter.  ``verbose`` shows the project's INFO lines.
"""

from __future__ import annotations

import logging
import os

#: environment read by the native libraries at their first import (set before it)
_NATIVE_QUIET = {
    "GLOG_minloglevel": "2",  # mediapipe / absl: errors only
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TFLite
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}
_NOISY = ("absl", "matplotlib", "PIL", "numba", "urllib3", "httpx", "httpcore", "transformers", "torio")


def quiet_native_libraries() -> None:
    """Set the native libraries' log levels (only where the user has not set them)."""
    for key, value in _NATIVE_QUIET.items():
        os.environ.setdefault(key, value)


def configure_logging(verbose: bool = False) -> None:
    """Call once, first thing, from an entry point."""
    quiet_native_libraries()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.ERROR)

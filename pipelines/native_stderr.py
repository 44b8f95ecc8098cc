"""Drop the C++ libraries' log lines (absl / glog, as mediapipe's TFLite writes them) from fd 2.

mediapipe's graphs log from their own threads at any time after they start (``W0000 00:00:…
inference_feedback_manager.cc:114] …``), so hiding fd 2 around a call misses some.  ``install()``
puts a pipe on fd 2 once; a thread passes every line on to the real stderr except those in
absl's / glog's format.  At exit the pipe is drained before the process ends, so no line of
the program's own is lost.  ``PIPELINES_NATIVE_LOGS=1`` leaves stderr untouched.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

#: ``W0000 00:00:1796316972.383749   17138 file.cc:114] …`` (absl), ``I20261203 …`` (glog), absl's preamble
NATIVE_LINE = re.compile(
    rb"^(?:[IWEF](?:\d{8}|\d{4}) [\d:. ]+\s+\d+ [\w./-]+:\d+\] |WARNING: All log messages before absl::)"
)

_lock = threading.Lock()
_state: dict = {}


def keep(line: bytes) -> bool:
    return NATIVE_LINE.match(line) is None


def _may_be_native(part: bytes) -> bool:
    """Whether an unfinished line could still turn out to be a native log line (then it waits)."""
    preamble = b"WARNING: All log messages before absl::"
    return len(part) < 256 and (re.match(rb"^[IWEF]\d", part) is not None or preamble.startswith(part[:40]))


def _pump(read_fd: int, out_fd: int) -> None:
    """Lines on to ``out_fd`` as they come; an unfinished line (a prompt, a progress bar) at once
    unless it could still be a native log line."""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        rest, passing = b"", False  # passing: the line being read is the program's, partly written
        while chunk := pipe.read(65536):
            *lines, rest = (rest + chunk).split(b"\n")
            out = []
            for line in lines:
                if passing or keep(line):
                    out.append(line + b"\n")
                passing = False
            if rest and (passing or not _may_be_native(rest)):
                out.append(rest)
                rest, passing = b"", True
            if out:
                os.write(out_fd, b"".join(out))
        if rest and keep(rest):
            os.write(out_fd, rest)


def install() -> None:
    """Filter fd 2 from now on (once per process; a no-op when fd 2 cannot be replaced)."""
    with _lock:
        if _state or os.environ.get("PIPELINES_NATIVE_LOGS") == "1":
            return
        try:
            sys.stderr.flush()
            real = os.dup(2)
            read_fd, write_fd = os.pipe()
        except (OSError, ValueError, AttributeError):
            return
        os.dup2(write_fd, 2)
        os.close(write_fd)
        thread = threading.Thread(target=_pump, args=(read_fd, real), name="native-stderr", daemon=True)
        thread.start()
        _state.update(real=real, thread=thread)
        atexit.register(_drain)


def _drain() -> None:
    """fd 2 back to the real stderr, and every line still in the pipe written out."""
    with _lock:
        if not _state:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(_state["real"], 2)  # closes the pipe's last write end held by fd 2: the pump sees EOF
        _state["thread"].join(timeout=2.0)
        _state.clear()

"""ONNX Runtime session options of the CPU stages, in one place.

The stages run side by side on few cores (so-vits and Wav2Lip convert and render the same
reply at once), so ONNX Runtime's worker threads sleep between ops instead of spinning on
cores another stage needs: ``bench reply`` (so-vits at DL-B's sizes + Wav2Lip int8, 2 cores,
alternating runs) took 21.2 s for a 17 s reply with spinning off against 24.7 s with it on,
first frame 0.79 s against 0.97 s.  One model alone loses a little (the so-vits generator
by itself: RTF 0.30 against 0.26), which is not how the app runs.
"""

from __future__ import annotations

from typing import Any

SPINNING = False


def cpu_session_options(ort: Any, threads: int = 0, *, quiet: bool = True) -> Any:
    """``SessionOptions`` for a CPU stage: all graph optimisations, ``threads`` intra-op threads
    (0: ONNX Runtime's choice), one inter-op thread, no spinning (``SPINNING``)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if SPINNING else "0")
    if quiet:
        so.log_severity_level = 3
    return so

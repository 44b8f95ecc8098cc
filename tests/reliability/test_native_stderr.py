"""The C++ libraries' log lines (mediapipe's absl format) never reach the user's stderr; the program's own lines all do."""

import subprocess
import sys

from pipelines.native_stderr import keep

SCRIPT = r"""
import os, sys, threading
from pipelines import native_stderr
native_stderr.install()
def native():  # as mediapipe's graph threads log: straight to fd 2, at any time
    os.write(2, b"W0000 00:00:1796316972.383749   17138 inference_feedback_manager.cc:114] Feedback manager\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
t = threading.Thread(target=native); t.start(); t.join()
print("progress 50%", file=sys.stderr)
os.write(2, b"I0000 00:00:1733.1 123 gl_context.cc:357] GL version\n")
print("enrollment refused: the face changes at frame 20. Nothing was changed.", file=sys.stderr)
sys.exit(3)
"""


def test_native_log_lines_are_recognised_and_others_kept():
    assert not keep(b"W0000 00:00:1796316972.383749   17138 inference_feedback_manager.cc:114] Feedback manager")
    assert not keep(b"I20261203 12:00:00.123456 999 calculator_graph.cc:1] glog style")
    assert keep(b"enrollment refused: clip.mp4: no face. Enroll another clip.")
    assert keep(b"W0000 is not a log line without its source location")


def test_a_process_shows_its_own_lines_in_order_and_none_of_the_native_ones(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        "progress 50%",
        "enrollment refused: the face changes at frame 20. Nothing was changed.",
    ]


def test_native_logs_1_leaves_stderr_untouched():
    env = {**__import__("os").environ, "PIPELINES_NATIVE_LOGS": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=env)
    assert "inference_feedback_manager.cc:114]" in proc.stderr and proc.returncode == 3


def test_an_unfinished_line_such_as_a_prompt_is_shown_at_once():
    script = (
        "import os, sys, time\nfrom pipelines import native_stderr\nnative_stderr.install()\n"
        "sys.stderr.write('you> '); sys.stderr.flush(); time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    try:
        assert proc.stderr.read(5) == b"you> "  # before the line ends (the process still sleeps)
    finally:
        proc.kill()
        proc.wait()

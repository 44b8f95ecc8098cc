"""Importing pipelines makes torch's idle OpenMP threads sleep (they would spin on the cores the
ONNX Runtime kernels of the other stages need), unless the user chose a policy."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import pipelines, os, torch; torch.ones(64, 64) @ torch.ones(64, 64); print(os.environ['OMP_WAIT_POLICY'])"


def _policy(env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env_extra
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_passive_by_default_and_the_users_choice_kept():
    assert _policy({}) == "PASSIVE"
    assert _policy({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"

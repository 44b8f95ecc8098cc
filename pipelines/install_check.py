"""Run after ``make install``: checks that the environment can run the embedded default.

Fails (exit 1) with the reason when an essential piece is missing, so a broken
install is found at install time rather than in the middle of a conversation.
"""

from __future__ import annotations

import importlib
import sys


def check() -> list[str]:
    problems = []

    def need(module: str, why: str):
        try:
            return importlib.import_module(module)
        except Exception as exc:  # ImportError, OSError from native libraries
            problems.append(f"{module} ({why}): {type(exc).__name__}: {exc}")
            return None

    torch = need("torch", "models")
    if torch is not None and not torch.__version__.startswith("2.13.0"):
        problems.append(f"torch {torch.__version__} installed, 2.13.0 expected")
    av = need("av", "MP4 writing")
    if av is not None and "libx264" not in av.codecs_available:
        problems.append("PyAV's FFmpeg has no libx264 encoder")
    need("espeakng_loader", "base voice")
    need("pyworld", "voice conversion")
    # mediapipe, through our wrapper (it patches protobuf 6 first)
    try:
        import numpy as np
        from PIL import Image

        from pipelines.face.avatar import landmarks

        from .settings import DEFAULT_PERSONA

        portrait = np.asarray(Image.open(DEFAULT_PERSONA / "portrait.png").convert("RGB"))
        if landmarks.face_mesh(portrait) is None:
            problems.append("mediapipe face mesh finds no face in the default portrait")
    except Exception as exc:
        problems.append(f"mediapipe face mesh does not start: {type(exc).__name__}: {exc}")
    problems += _check_sovits_f0()
    need("onnxruntime", "Wav2Lip ONNX runtime")
    problems += _check_openvino()
    need("transformers", "ChatGLM")
    need("peft", "P-tuning")
    return problems


def _check_sovits_f0() -> list[str]:
    """The default so-vits F0 estimator (``voice.sovits.f0_method``) runs and finds a 200 Hz tone."""
    from .settings import SOVITS_F0_DEFAULT

    try:
        import numpy as np

        from .voice import sovits_compat
        from .voice.f0_estimate import F0Estimator

        sovits_compat.import_fork()
        sr = 44100
        tone = (0.3 * np.sin(2 * np.pi * 200 * np.arange(sr // 2) / sr)).astype(np.float32)
        f0 = F0Estimator(sr, 512).raw(tone, SOVITS_F0_DEFAULT)
        voiced = f0[f0 > 0]
        if len(voiced) == 0 or not 190 < float(np.median(voiced)) < 210:
            return [f"so-vits F0 method {SOVITS_F0_DEFAULT} does not find a 200 Hz tone"]
    except Exception as exc:
        return [f"so-vits F0 method {SOVITS_F0_DEFAULT} does not run: {type(exc).__name__}: {exc}"]
    return []


def _check_openvino() -> list[str]:
    """OpenVINO's CPU plugin starts and runs a one-node graph (Wav2Lip's bf16 runtime, where the CPU has it)."""
    try:
        import numpy as np
        import openvino as ov
        import openvino.opset13 as ops

        x = ops.parameter([2, 3], np.float32, name="x")
        model = ov.Model([ops.relu(x)], [x], "check")
        out = (
            ov.Core()
            .compile_model(model, "CPU")
            .create_infer_request()
            .infer({"x": np.array([[-1, 0, 2]] * 2, np.float32)})
        )
        if np.asarray(next(iter(out.values()))).tolist() != [[0, 0, 2]] * 2:
            return ["OpenVINO's CPU plugin gives a wrong result"]
    except Exception as exc:
        return [f"OpenVINO does not run (face.wav2lip.runtime auto/openvino): {type(exc).__name__}: {exc}"]
    return []


def main() -> int:
    problems = check()
    if problems:
        print("install check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("install check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

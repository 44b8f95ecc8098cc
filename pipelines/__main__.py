"""``python -m pipelines COMMAND ...``: the engine's command-line tools.

Each command lives in its own module and is imported only when used.
"""

from __future__ import annotations

import importlib
import sys

from pipelines.logs import configure_logging

COMMANDS = {
    "demo": ("pipelines.headless_demo", "main", "run the headless conversation demo (same as main_demo.py)"),
    "finetune": ("pipelines.dialogue.finetune_cli", "main", "P-tune the dialogue model on JSON chat logs"),
    "voice-train": ("pipelines.voice.train_cli", "main", "train a so-vits-svc voice from recordings"),
    "enroll": ("pipelines.face.avatar.enroll_cli", "main", "enroll a face from 5-10 s clips or a portrait"),
    "lipsync-train": (
        "pipelines.face.personal.train_cli",
        "main",
        "train the persona's own lip-sync model from 1-5 min of video",
    ),
    "export-onnx": (
        "pipelines.face.wav2lip.export.onnx_export",
        "main",
        "export the Wav2Lip generator to ONNX (fp32/fp16/int8)",
    ),
    "bench": (
        None,
        None,
        "benchmarks: latency | reply | dialogue | voice | f0 | render | asr | lipsync (the window: python -m app.bench_ui)",
    ),
}

BENCHES = {
    "latency": "pipelines.bench.latency",
    "dialogue": "pipelines.bench.dialogue",
    "voice": "pipelines.bench.voice",
    "render": "pipelines.bench.render",
    "asr": "pipelines.bench.asr",
    "lipsync": "pipelines.bench.lipsync",
    "f0": "pipelines.bench.f0",
    "reply": "pipelines.bench.reply",
}
#: the window's own benchmark lives with the window (pipelines/ never reaches into app/)
APP_BENCHES = {"ui": "python -m app.bench_ui"}


def usage() -> str:
    lines = ["usage: python -m pipelines COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<12} {text}" for name, (_, _, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_logging()
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if cmd == "bench":
        if rest and rest[0] in APP_BENCHES:
            print(f"'bench {rest[0]}' measures the desktop window: run {APP_BENCHES[rest[0]]}", file=sys.stderr)
            return 2
        if not rest or rest[0] not in BENCHES:
            print(f"usage: python -m pipelines bench {{{'|'.join(BENCHES)}}} [options]", file=sys.stderr)
            return 2
        module = importlib.import_module(BENCHES[rest[0]])
        return int(module.main(rest[1:]) or 0)
    module_name, func, _ = COMMANDS[cmd]
    return int(getattr(importlib.import_module(module_name), func)(rest) or 0)


if __name__ == "__main__":
    from pipelines import native_stderr

    native_stderr.install()  # a command's process: mediapipe's threads' C++ log lines off stderr
    sys.exit(main())

"""Headless conversation with the persona: text in, one MP4 (H.264 + AAC) per turn out.

    python main_demo.py --text "你好，介绍一下你自己"        # one turn
    python main_demo.py --text "Hi" --text "What can you do?" --json
    python main_demo.py --audio q.wav --audio q2.wav          # spoken questions, one turn per file
    python main_demo.py --mic                                 # a turn per utterance until Ctrl+C
    python main_demo.py                                       # interactive on a terminal
                                                              # ('stop' quits, 'clear' clears history)
    echo "你好" | python main_demo.py                          # piped lines: one turn each
    python main_demo.py < /dev/null                           # nothing piped: scripted two-turn demo

Every model stays loaded across turns; the reply is spoken and rendered
sentence by sentence while the dialogue stage is still writing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipelines.logs import configure_logging  # noqa: E402

configure_logging()

from pipelines.cli_settings import add_settings_arguments, settings_from_args  # noqa: E402
from pipelines.engine import Engine, EngineError  # noqa: E402
from pipelines.output_paths import OutputPathError, check_out_file, check_writable_dir  # noqa: E402
from pipelines.persona import PersonaError  # noqa: E402
from pipelines.settings import SettingsError  # noqa: E402
from pipelines.turn_record import TurnRecord  # noqa: E402

SCRIPTED = ["你好，介绍一下你自己", "What can you do?"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", action="append", help="a message to the persona (repeat for several turns)")
    p.add_argument("--audio", action="append", help="a spoken question (WAV file; repeat: one turn per file)")
    p.add_argument("--mic", action="store_true", help="speak from the microphone: a turn per utterance until Ctrl+C")
    p.add_argument("--out", help="MP4 path of the first turn (later turns get -2, -3 … suffixes)")
    p.add_argument("--json", action="store_true", help="print one JSON line per turn")
    p.add_argument("--log", help="conversation log (default: <output_dir>/conversation.jsonl)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one turn")
    add_settings_arguments(p)
    return p.parse_args(argv)


def report(rec: TurnRecord, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rec.to_dict(), ensure_ascii=False), flush=True)
        return
    if rec.status == "error":
        print(f"[turn {rec.turn_id}] error: {rec.error}", flush=True)
        return
    fmt = lambda v: "-" if v is None else f"{v:.2f}s"  # noqa: E731
    print(f"{rec.reply}", flush=True)
    print(
        f"  [{rec.mode or 'reply'}] first audio {fmt(rec.first_audio_s)}, first frame {fmt(rec.first_frame_s)}, "
        f"{rec.audio_s:.1f}s of speech in {fmt(rec.wall_s)}",
        flush=True,
    )
    if rec.video_path:
        print(f"  video: {rec.video_path}", flush=True)


def run_turn(engine: Engine, text: str, args) -> TurnRecord | None:
    try:
        turn_id = engine.submit(text)
    except ValueError as exc:  # an empty message
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return None
    rec = engine.wait(turn_id, timeout=args.timeout)
    report(rec, args.json)
    return rec


def interactive(engine: Engine, args) -> None:
    name = engine.persona.display_name if engine.persona else "persona"
    print(f"Chat with {name}. 'stop' quits, 'clear' clears the history.", flush=True)
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not line:
            continue
        if line.lower() in ("stop", "quit", "exit"):
            return
        if line.lower() == "clear":
            engine.clear()
            print("(history cleared)")
            continue
        run_turn(engine, line, args)


def piped_lines():
    """Non-empty lines piped on standard input, read as they come (None: a terminal or nothing piped)."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    try:
        sys.stdin.reconfigure(errors="replace")
    except (AttributeError, ValueError):
        pass
    lines = (ln.strip() for ln in sys.stdin)
    first = next((ln for ln in lines if ln), None)
    if first is None:
        return None
    return itertools.chain([first], (ln for ln in lines if ln))


def check_args(args, settings) -> None:
    """Everything that can be refused without loading a model (one clear line each)."""
    if not (args.timeout > 0):
        raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.text is not None and not any(t.strip() for t in args.text):
        raise ValueError('--text is empty: give something to say, e.g. --text "你好"')
    check_writable_dir(settings.output_path, "output_dir")
    if args.out:
        check_out_file(args.out, settings.resolve("source"))
    if args.log and Path(args.log).is_dir():
        raise ValueError(f"--log {args.log} is a folder: give a file such as {Path(args.log) / 'conversation.jsonl'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_from_args(args)
        check_args(args, settings)
        if args.mic:
            from pipelines.asr.demo import mic_notice

            if (notice := mic_notice(settings.asr.input_device)) is not None:
                print(f"error: {notice}", file=sys.stderr)
                return 1
        engine = Engine(settings, out_path=args.out, log_path=args.log)
        if not args.json:
            print("loading models …", flush=True)
        engine.start()
    except (SettingsError, PersonaError, EngineError, OutputPathError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = False
    try:
        if not args.json:
            print("backends: " + ", ".join(f"{k}={v}" for k, v in engine.describe().items()), flush=True)
        texts = [t for t in args.text if t.strip()] if args.text else None
        if args.audio or args.mic:
            from pipelines.asr.demo import audio_turns, mic_turns

            failed |= audio_turns(engine, args.audio, args, report) if args.audio else False
            failed |= mic_turns(engine, args, report, settings.asr.input_device) if args.mic else False
            texts = texts or []
        if texts is None and sys.stdin is not None and sys.stdin.isatty():
            interactive(engine, args)
            texts = []
        if texts is None:
            texts = piped_lines()
        if texts is None:
            texts = SCRIPTED
            echo = not args.json
        else:
            echo = False
        for text in texts:
            if echo:
                print(f"you> {text}", flush=True)
            rec = run_turn(engine, text, args)
            failed |= rec is None or rec.status != "ok"
    finally:
        engine.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

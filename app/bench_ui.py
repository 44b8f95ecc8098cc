"""``python -m pipelines bench ui``: how live the window stays while a turn runs.

Opens the main window (offscreen when there is no display) over the configured
backends (the embedded default unless the settings say otherwise; ``--toy`` for
the engine's toy stages, which isolates the UI's own cost), sends N messages
and measures, from each send until its audio has finished playing:

- event-loop stalls: a 10 ms heartbeat timer on the UI thread; a stall is the
  gap between two beats minus the interval (target: longest < 50 ms);
- frame delay: when a frame is painted, the audio clock minus the frame's own
  audio time (target: within one frame, 40 ms at 25 fps); also frames skipped;
- time from send to the first frame on screen, and how long playback waited
  for rendering (playback time minus audio length: the pipeline's, not the UI's).

Printed as a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

PROMPTS = ["你好，介绍一下你自己", "What can you do?", "晚安", "Tell me a joke."]
TARGET_STALL_S = 0.050


def _pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def run(settings, turns: int, toy: bool = False, heartbeat_ms: int = 10, timeout_s: float = 600.0) -> dict:
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    from .audio_output import SilentAudioOutput
    from .engine_bridge import default_engine_factory
    from .main_window import MainWindow
    from .qt_env import install_fonts, make_application
    from .style import STYLESHEET

    app = make_application()
    install_fonts(app)
    app.setStyleSheet(STYLESHEET)
    if not toy:
        factory = default_engine_factory
    else:
        from pipelines.engine import Engine
        from pipelines.testing.toy_stages import FlatFace, PassAudio, ScriptedDialogue, ToneTTS

        def factory(s, sink):
            reply = "你好，我是小林。今天天气很好！我们去公园散步吧？Sure, let's go. It will be fun."
            return Engine(
                s,
                stages={
                    "dialogue": ScriptedDialogue(reply, 0.02),
                    "tts": ToneTTS(),
                    "vc": PassAudio(),
                    "face": FlatFace(size=512, vary=True),
                },
                sink=sink,
            )

    audio = SilentAudioOutput()
    t = time.perf_counter()
    w = MainWindow(
        settings=settings, settings_path=tempfile.mktemp(suffix=".json"), engine_factory=factory, audio=audio
    )
    w.resize(1120, 700)
    w.show()

    def spin_until(pred, limit):
        loop = QEventLoop()
        deadline = time.perf_counter() + limit
        poll = QTimer()
        poll.timeout.connect(lambda: (pred() or time.perf_counter() > deadline) and loop.quit())
        poll.start(5)
        loop.exec()
        poll.stop()
        return pred()

    if not spin_until(
        lambda: w.controller.engine is not None or (not w.controller.busy and w.status.error.isVisible()), 600
    ):
        raise RuntimeError("models did not load")
    if w.controller.engine is None:
        raise RuntimeError(f"models could not load: {w.status.error_details}")
    load_s = time.perf_counter() - t
    spin_until(lambda: False, 0.5)

    beats: list[float] = []
    hb = QTimer()
    hb.setTimerType(Qt.TimerType.PreciseTimer)
    hb.timeout.connect(lambda: beats.append(time.perf_counter()))
    per_turn = []
    for i in range(turns):
        text = PROMPTS[i % len(PROMPTS)]
        w.player.delays.clear()
        skipped0, shown0 = w.player.frames_skipped, w.player.frames_shown
        beats.clear()
        hb.start(heartbeat_ms)
        t0 = time.perf_counter()
        turn = w.send(text)
        ok = spin_until(
            lambda: turn in w._records and not w.player.playing and w.player.chunks_received.get(turn, 0) > 0, timeout_s
        )
        hb.stop()
        rec = w._records.get(turn)
        if not ok or rec is None or rec.status != "ok":
            raise RuntimeError(
                f"turn {turn} did not complete: {rec.status if rec else 'no record'} {rec.error if rec else ''}"
            )
        gaps = [b - a - heartbeat_ms / 1000 for a, b in zip(beats, beats[1:])]
        delays = list(w.player.delays)
        play_s, heard_s = w.player.playback.get(turn, (None, None))
        fps = settings.face.fps
        per_turn.append(
            {
                "text": text,
                "audio_s": rec.audio_s,
                "wall_s": time.perf_counter() - t0,
                "first_audio_s": rec.first_audio_s,
                "first_frame_s": rec.first_frame_s,
                "first_on_screen_s": w._shown_s.get(turn),
                "stall_max_ms": 1000 * max(gaps) if gaps else None,
                "stall_p99_ms": 1000 * _pct(gaps, 99) if gaps else None,
                "stalls_over_50ms": sum(g > TARGET_STALL_S for g in gaps),
                "beats": len(beats),
                "delay_median_ms": 1000 * statistics.median(delays) if delays else None,
                "delay_p95_ms": 1000 * _pct(delays, 95) if delays else None,
                "delay_max_ms": 1000 * max(delays) if delays else None,
                "delay_min_ms": 1000 * min(delays) if delays else None,
                "within_one_frame": (sum(0 <= d < 1 / fps for d in delays) / len(delays)) if delays else None,
                "frames_shown": w.player.frames_shown - shown0,
                "waited_for_render_s": (play_s - heard_s) if play_s is not None else None,
                "frames_skipped": w.player.frames_skipped - skipped0,
            }
        )
        spin_until(lambda: False, 0.3)
    backends = w.controller.engine.describe()
    w.shutdown()
    w.close()

    def worst(key):
        vals = [t[key] for t in per_turn if t[key] is not None]
        return max(vals) if vals else None

    def med(key):
        vals = [t[key] for t in per_turn if t[key] is not None]
        return statistics.median(vals) if vals else None

    return {
        "turns": turns,
        "toy": toy,
        "backends": backends,
        "load_s": load_s,
        "fps": settings.face.fps,
        "platform": app.platformName(),
        "heartbeat_ms": heartbeat_ms,
        "stall_max_ms": worst("stall_max_ms"),
        "stall_p99_ms": worst("stall_p99_ms"),
        "stalls_over_50ms": sum(t["stalls_over_50ms"] for t in per_turn),
        "delay_median_ms": med("delay_median_ms"),
        "delay_p95_ms": worst("delay_p95_ms"),
        "delay_max_ms": worst("delay_max_ms"),
        "within_one_frame": min(t["within_one_frame"] for t in per_turn if t["within_one_frame"] is not None),
        "frames_skipped": sum(t["frames_skipped"] for t in per_turn),
        "frames_shown": sum(t["frames_shown"] for t in per_turn),
        "first_on_screen_s": med("first_on_screen_s"),
        "per_turn": per_turn,
    }


def pad(text: str, width: int) -> str:
    """Left-justify by display width (a Chinese character takes two columns)."""
    import unicodedata

    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width - 2:
            break
        out += ch
        used += w
    return out + " " * (width - used)


def fmt(v, unit=" ms", nd=1):
    return "-" if v is None else f"{v:.{nd}f}{unit}"


def print_table(res: dict) -> None:
    b = res["backends"]
    print(
        f"UI benchmark ({res['platform']}, heartbeat {res['heartbeat_ms']} ms, {res['turns']} turn(s); "
        f"backends: {', '.join(f'{k}={v}' for k, v in b.items())}; models loaded in {res['load_s']:.1f} s)"
    )
    print(
        f"{'turn':<26}{'speech':>8}{'stall max':>11}{'p99':>9}{'>50ms':>7}{'delay med':>11}{'p95':>9}"
        f"{'max':>9}{'<1 frame':>10}{'skipped':>9}{'on screen':>11}{'waited':>9}"
    )
    for t in res["per_turn"]:
        print(
            f"{pad(t['text'], 26)}{t['audio_s']:>7.1f}s{fmt(t['stall_max_ms']):>11}{fmt(t['stall_p99_ms']):>9}"
            f"{t['stalls_over_50ms']:>7}{fmt(t['delay_median_ms']):>11}{fmt(t['delay_p95_ms']):>9}"
            f"{fmt(t['delay_max_ms']):>9}{t['within_one_frame']:>10.1%}{t['frames_skipped']:>9}"
            f"{fmt(t['first_on_screen_s'], ' s', 2):>11}{fmt(t['waited_for_render_s'], ' s', 2):>9}"
        )
    frame_ms = 1000 / res["fps"]
    print(
        f"longest stall {fmt(res['stall_max_ms'])} (target < {TARGET_STALL_S * 1000:.0f} ms: "
        f"{'met' if res['stall_max_ms'] is not None and res['stall_max_ms'] < 50 else 'NOT met'}); "
        f"frame delay median {fmt(res['delay_median_ms'])}, p95 {fmt(res['delay_p95_ms'])}, "
        f"max {fmt(res['delay_max_ms'])} (target within one frame = {frame_ms:.0f} ms: "
        f"{res['within_one_frame']:.1%} of frames)"
    )


def main(argv: list[str] | None = None) -> int:
    from .qt_env import prepare_qt_env

    prepare_qt_env()
    from pipelines.cli_settings import add_settings_arguments, settings_from_args

    p = argparse.ArgumentParser(
        prog="python -m pipelines bench ui", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--turns", type=int, default=2)
    p.add_argument("--toy", action="store_true", help="toy stages (pipelines/testing/toy_stages.py): the UI's own cost")
    p.add_argument("--heartbeat-ms", type=int, default=10)
    p.add_argument("--json", action="store_true")
    add_settings_arguments(p)
    args = p.parse_args(argv)
    settings = settings_from_args(args)
    settings.output_dir = tempfile.mkdtemp(prefix="bench-ui-")
    res = run(settings, args.turns, toy=args.toy, heartbeat_ms=args.heartbeat_ms)
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End to end on the embedded default: retrieval -> espeak -> world -> warp -> MP4.

No stage is replaced: this is what `make demo` runs.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.engine import Engine
from pipelines.media.mp4_writer import probe_durations
from pipelines.messages import TextChunk, VideoChunk
from pipelines.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default_engine(tmp_path_factory):
    out = tmp_path_factory.mktemp("turns")
    settings = Settings(output_dir=str(out))
    # stream at an LLM's pace on CPU (~12 pieces/s) so the test sees the pipelining
    settings.dialogue.retrieval.stream_delay_ms = 80
    engine = Engine(settings, log_path=out / "log.jsonl").start()
    yield engine
    engine.close()


def test_first_sentence_is_rendered_before_the_reply_is_written(default_engine):
    events = []
    import time

    unsubscribe = default_engine.subscribe(lambda stage, msg: events.append((time.perf_counter(), stage, msg)))
    try:
        rec = default_engine.wait(default_engine.submit("你好，介绍一下你自己"), timeout=300)
    finally:
        unsubscribe()
    assert rec.status == "ok", rec.error
    assert rec.mode == "retrieval"
    text_times = [t for t, stage, m in events if stage == "dialogue" and isinstance(m, TextChunk)]
    video_times = [t for t, stage, m in events if stage == "face" and isinstance(m, VideoChunk)]
    assert len(video_times) >= 2, "the reply should be spoken sentence by sentence"
    assert video_times[0] < text_times[-1], "first video chunk must exist before the dialogue stage finishes"
    assert rec.first_audio_s < rec.wall_s and rec.first_frame_s < rec.wall_s
    assert rec.audio_s > 1.0


def test_demo_cli_writes_mp4_with_equal_streams_and_logs_the_turn(tmp_path):
    out = tmp_path / "hello.mp4"
    r = subprocess.run(
        [
            sys.executable,
            "main_demo.py",
            "--text",
            "你好，介绍一下你自己",
            "--json",
            "--out",
            str(out),
            "--output_dir",
            str(tmp_path),
            "--log",
            str(tmp_path / "conv.jsonl"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    line = json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])
    assert line["status"] == "ok" and line["reply"] and line["video_path"] == str(out)
    assert line["first_audio_s"] > 0 and line["stages"]["face"]["busy_s"] > 0
    d = probe_durations(out)
    assert d["video_codec"] == "h264" and d["audio_codec"] == "aac"
    assert abs(d["video"] - d["audio"]) <= 1 / 25 + 0.03  # one frame (+ AAC frame padding)
    assert d["video"] == pytest.approx(line["audio_s"], abs=0.1)
    log = [json.loads(l) for l in (tmp_path / "conv.jsonl").read_text().splitlines()]
    assert log[-1]["user_text"] == "你好，介绍一下你自己" and log[-1]["video_path"] == str(out)


def test_demo_without_terminal_runs_the_scripted_two_turns(tmp_path):
    r = subprocess.run(
        [sys.executable, "main_demo.py", "--json", "--output_dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    turns = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert [t["status"] for t in turns] == ["ok", "ok"]
    assert all(Path(t["video_path"]).exists() for t in turns)


def test_bad_settings_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"face": {"backend": "pixar"}}))
    r = subprocess.run(
        [sys.executable, "main_demo.py", "--settings", str(bad), "--text", "hi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2
    assert "face.backend: must be one of warp, wav2lip, personal, got 'pixar'" in r.stderr

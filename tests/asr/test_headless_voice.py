"""A whole headless turn from a WAV file, bad files and the no-microphone notice through main_demo."""

import json

import pytest

import main_demo
from pipelines.asr.mic import MicUnavailable, input_devices


def run(capsys, *argv):
    rc = main_demo.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_turn_from_wav_file(tmp_path, question_wav, capsys):
    log = tmp_path / "log.jsonl"
    rc, out, err = run(
        capsys,
        "--audio",
        str(question_wav),
        "--json",
        "--out",
        str(tmp_path / "t.mp4"),
        "--log",
        str(log),
        "--output_dir",
        str(tmp_path),
    )
    assert rc == 0, err
    rec = json.loads(out.strip().splitlines()[-1])
    assert rec["status"] == "ok" and rec["user_text"] == "where do you live"
    assert rec["speech"]["text"] == "where do you live" and rec["speech"]["backend"] == "pocketsphinx"
    assert rec["speech"]["audio_s"] == pytest.approx(2.4, abs=0.1)  # 0.5 + ~1.4 + 0.5 s
    assert rec["reply"] and rec["audio_s"] > 0 and (tmp_path / "t.mp4").stat().st_size > 0
    logged = json.loads(log.read_text().strip().splitlines()[-1])
    assert logged["speech"]["text"] == "where do you live"


def test_bad_file_is_one_line_and_the_next_file_still_runs(tmp_path, question_wav, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    rc, out, err = run(
        capsys,
        "--audio",
        str(bad),
        "--audio",
        str(question_wav),
        "--log",
        str(tmp_path / "log.jsonl"),
        "--output_dir",
        str(tmp_path),
    )
    assert rc == 1
    assert f"error: {bad}: the file is empty" in out and "Traceback" not in out + err
    assert "you (from" in out and "> where do you live" in out


def test_no_input_device_notice(tmp_path, capsys):
    try:
        has_mic = bool(input_devices())
    except MicUnavailable:
        has_mic = False
    if has_mic:
        pytest.skip("this machine has a microphone")
    rc, out, err = run(capsys, "--mic", "--log", str(tmp_path / "log.jsonl"), "--output_dir", str(tmp_path))
    assert rc == 1
    lines = [ln for ln in (out + err).splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "no microphone" in lines[0] and "--audio" in lines[0]
    assert "Traceback" not in out + err


def test_recogniser_that_cannot_load_is_one_line(tmp_path, question_wav, capsys):
    rc, out, err = run(
        capsys,
        "--audio",
        str(question_wav),
        "--asr.backend",
        "whisper",
        "--asr.model_dir",
        str(tmp_path / "no-such-whisper"),
        "--log",
        str(tmp_path / "log.jsonl"),
        "--output_dir",
        str(tmp_path),
    )
    assert rc == 1 and "Traceback" not in out + err
    lines = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "speech recognition (whisper) could not load" in lines[0] and "not a folder" in lines[0]


def test_bad_asr_setting_is_reported_by_field(tmp_path, capsys):
    rc, _out, err = run(capsys, "--audio", "x.wav", "--asr.end_pause_s", "0", "--output_dir", str(tmp_path))
    assert rc == 2 and "asr.end_pause_s: must be between 0.1 and 5.0, got 0.0" in err


def test_mic_turns_from_a_simulated_microphone(tmp_path, espeak):
    """``--mic`` over a recording handed out like a device: each utterance is a turn, reported when done."""
    import types

    import numpy as np

    from pipelines.asr.demo import mic_turns
    from pipelines.asr.sources import ArraySource
    from pipelines.engine import Engine
    from pipelines.settings import Settings
    from pipelines.testing.toy_stages import CollectSink, FlatFace
    from tests.asr.conftest import silence

    s = Settings(output_dir=str(tmp_path))
    s.voice.vc_backend = "none"
    x = np.concatenate([silence(0.3), espeak("Where do you live?"), silence(0.5)])
    reports = []
    with Engine(s, stages={"face": FlatFace()}, sink=CollectSink(), log_path=tmp_path / "log.jsonl") as eng:
        failed = mic_turns(
            eng,
            types.SimpleNamespace(json=True, timeout=120),
            lambda rec, as_json: reports.append(rec),
            source_factory=lambda: ArraySource(x, then_silence_s=1.0),
        )
    assert not failed
    assert [r.user_text for r in reports] == ["where do you live"]
    assert reports[0].status == "ok" and reports[0].reply and reports[0].speech["source"] == "recording"
    assert "end_of_speech" not in reports[0].speech and reports[0].speech["eos_to_text_s"] > 0

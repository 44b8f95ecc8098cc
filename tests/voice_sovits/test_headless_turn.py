"""A whole headless turn with ``sovits`` as the voice conversion backend (retrieval -> espeak -> sovits
-> warp -> MP4), nothing replaced."""

from __future__ import annotations

import dataclasses

import pytest


def test_a_turn_speaks_through_the_sovits_voice(sovits_settings, tmp_path):
    from pipelines.engine import Engine
    from pipelines.media.mp4_writer import probe_durations
    from pipelines.messages import AudioChunk

    settings = dataclasses.replace(sovits_settings, output_dir=str(tmp_path))
    vc_chunks: list[AudioChunk] = []
    tts_chunks: list[AudioChunk] = []
    engine = Engine(settings, log_path=tmp_path / "log.jsonl").start()
    try:
        assert engine.describe()["vc"].endswith("sovits")
        engine.subscribe(
            lambda stage, msg: (
                (vc_chunks if stage == "vc" else tts_chunks if stage == "tts" else []).append(msg)
                if isinstance(msg, AudioChunk)
                else None
            )
        )
        rec = engine.wait(engine.submit("你好，介绍一下你自己"), timeout=600)
    finally:
        engine.close()
    assert rec.status == "ok", rec.error
    assert vc_chunks and len(vc_chunks) == len(tts_chunks)
    assert all(c.sample_rate == 16000 for c in vc_chunks)
    for tts, vc in zip(tts_chunks, vc_chunks):
        assert vc.duration == pytest.approx(tts.duration, abs=2e-3) and vc.text == tts.text
    assert rec.audio_s == pytest.approx(sum(c.duration for c in vc_chunks), abs=0.1)
    d = probe_durations(rec.video_path)
    assert d["audio"] == pytest.approx(rec.audio_s, abs=0.15)

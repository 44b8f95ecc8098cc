"""The persona's greeting at start: spoken and animated through the real embedded pipeline,
shown like a reply, but never a user turn, never in the dialogue's history or the conversation log."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.persona import Persona, default_greeting
from pipelines.settings import DEFAULT_PERSONA, Settings


def test_default_greeting_from_name_and_language(tmp_path):
    assert default_greeting("小林 Lin", "zh") == "你好，我是小林。"
    assert default_greeting("小林 Lin", "en") == "Hi, I'm Lin."
    assert default_greeting("Astro", "zh") == "你好，我是Astro。"
    assert Persona.load(DEFAULT_PERSONA).greeting == "你好，我是小林。"
    root = tmp_path / "p"
    root.mkdir()
    (root / "persona.json").write_text(json.dumps({"name": "p", "greeting": "Hello there!"}), encoding="utf-8")
    assert Persona.load(root).greeting == "Hello there!"
    (root / "persona.json").write_text(json.dumps({"name": "p", "greeting": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match="greeting"):
        Persona.load(root)


def test_greeting_plays_at_start_and_is_not_a_user_turn(make_window, tmp_path, qtbot):
    from app.engine_bridge import default_engine_factory

    chunks = []
    w = make_window(
        default_engine_factory,
        settings=Settings(output_dir=str(tmp_path / "out"), threads=1),
        greet=True,
        wait_ready=False,
    )
    w.controller.signals.video.connect(chunks.append)
    qtbot.waitUntil(lambda: w.greeting_turn is not None, timeout=180_000)
    turn = w.greeting_turn
    qtbot.waitUntil(lambda: turn in w._records, timeout=180_000)
    rec = w._records[turn]
    assert rec.status == "ok" and rec.kind == "say" and rec.user_text == ""
    assert rec.reply == "你好，我是小林。" and w.chat.reply_text(turn) == rec.reply
    qtbot.waitUntil(lambda: not w.player.playing, timeout=60_000)
    mine = [c for c in chunks if c.turn_id == turn]
    assert mine, "no video of the greeting reached the player"
    sent = np.concatenate([c.audio for c in mine])
    assert len(sent) / mine[0].sample_rate == pytest.approx(rec.audio_s, abs=0.05) and rec.audio_s > 0.5
    assert np.array_equal(np.concatenate(w.audio.recorded), sent)  # heard, all of it
    assert np.abs(sent).max() > 0.01
    eng = w.controller.engine
    assert all(r.get("kind", "reply") != "say" for r in eng.log.read())  # not in the conversation log
    # not in the dialogue's history: the next reply's turn is the first round the dialogue knows
    dialogue = eng.stages["dialogue"]
    assert dialogue.history == []
    t2 = w.send("晚安")
    qtbot.waitUntil(lambda: t2 in w._records, timeout=180_000)
    assert [r["user_text"] for r in eng.log.read()] == ["晚安"]
    assert [q for q, _ in dialogue.history] == ["晚安"]
    # and only once per persona: a reload with the same persona does not greet again
    assert w._greeted_persona == str(DEFAULT_PERSONA.resolve())

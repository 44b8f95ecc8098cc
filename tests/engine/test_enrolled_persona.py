"""A persona made by enrollment alone (a face, no chat log) loads and replies: it borrows the
default persona's chat log, with a note saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines.persona import Persona, list_personas
from pipelines.settings import DEFAULT_PERSONA

ROOT = Path(__file__).resolve().parents[2]


def test_enrolled_persona_without_chat_log_gives_a_turn(tmp_path):
    personas = tmp_path / "personas"
    r = subprocess.run(
        [sys.executable, "-m", "pipelines", "enroll", "--name", "astro", "--persona-dir", str(personas), "-q"]
        + [str(DEFAULT_PERSONA / "portrait.png")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    astro = personas / "astro"
    assert (astro / "avatar").is_dir() and not (astro / "chat.jsonl").exists()
    p = Persona.load(astro)
    assert p.chat_log == DEFAULT_PERSONA / "chat.jsonl" and p.notes and "no chat log" in p.notes[0]
    assert p.greeting == "你好，我是astro。"
    assert [q.name for q in list_personas(personas)] == ["astro"]
    r = subprocess.run(
        [sys.executable, "main_demo.py", "--persona", str(astro), "--text", "晚安", "--json"]
        + ["--output_dir", str(tmp_path / "out"), "--log", str(tmp_path / "conv.jsonl")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    line = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    assert line["status"] == "ok" and "晚安" in line["reply"] and line["audio_s"] > 0.5
    assert Path(line["video_path"]).is_file()
    assert "no chat log of its own" in r.stderr  # the note, logged


def test_persona_with_a_named_but_missing_chat_log_borrows_nothing(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "persona.json").write_text(json.dumps({"name": "p", "chat_log": "mine.jsonl"}), encoding="utf-8")
    p = Persona.load(root)
    assert p.chat_log is None and p.notes == []

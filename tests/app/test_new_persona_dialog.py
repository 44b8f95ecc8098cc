"""The New persona dialog writes source/<name>/ (persona.json, chat log, portrait, enrolled face)
through the enrollment code, atomically, never touching an existing persona."""

from __future__ import annotations

import hashlib
import json
import shutil

from pipelines.persona import Persona
from pipelines.settings import DEFAULT_PERSONA, Settings
from tests.app.conftest import ToyFactory


def _snapshot(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def test_new_persona_dialog_creates_a_persona_and_the_window_switches_to_it(make_window, tmp_path, qtbot):
    root = tmp_path / "source"
    lin = root / "default"
    lin.mkdir(parents=True)
    for f in ("persona.json", "chat.jsonl", "portrait.png"):
        shutil.copy(DEFAULT_PERSONA / f, lin / f)
    before, shipped = _snapshot(lin), _snapshot(DEFAULT_PERSONA)
    chat = tmp_path / "mine.jsonl"
    chat.write_text(json.dumps({"prompt": "你是谁", "response": "我是阿斯特罗。", "history": []}) + "\n", "utf-8")
    w = make_window(
        ToyFactory(tmp_path), settings=Settings(output_dir=str(tmp_path / "out"), persona=str(lin)), personas_dir=root
    )
    first = w.controller.engine
    d = w.new_persona()
    # a taken name is refused, and nothing is written
    d.name_edit.setText("default")
    d.add_faces([str(DEFAULT_PERSONA / "portrait.png")])
    d.create()
    qtbot.waitUntil(lambda: not d.busy, timeout=120_000)
    assert "already exists" in d.message.text() and _snapshot(lin) == before
    # a bad chat log: one line, nothing written
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", "utf-8")
    d.name_edit.setText("astro")
    d.chat_edit.setText(str(bad))
    d.create()
    qtbot.waitUntil(lambda: not d.busy, timeout=120_000)
    assert d.message.text() and "\n" not in d.message.text() and not (root / "astro").exists()
    d.chat_edit.setText(str(chat))
    d.display_edit.setText("Astro")
    d.language.setCurrentIndex(d.language.findData("en"))
    d.pitch.setValue(120)
    with qtbot.waitSignal(d.created, timeout=300_000) as got:
        d.create()
    astro = root / "astro"
    assert got.args == [str(astro)]
    assert sorted(p.name for p in astro.iterdir()) == ["avatar", "chat.jsonl", "persona.json", "portrait.png"]
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temporary left
    p = Persona.load(astro)
    assert p.display_name == "Astro" and p.language == "en" and p.greeting == "Hi, I'm Astro."
    assert p.voice.f0_median_hz == 120.0 and "+f3" not in p.voice.espeak_voice_en
    assert p.chat_log.read_bytes() == chat.read_bytes() and p.notes == []
    from pipelines.face.avatar.storage import read_avatar

    assert len(read_avatar(astro / "avatar")) == 1
    assert _snapshot(lin) == before and _snapshot(DEFAULT_PERSONA) == shipped
    # the window lists it and talks to it
    qtbot.waitUntil(lambda: w.controller.engine not in (None, first) and w.chat.send_button.isEnabled(), timeout=60_000)
    assert w.controller.engine.persona.root.resolve() == astro.resolve()
    assert "Astro" in w.persona_picker.names() and w.persona_picker.combo.currentText() == "Astro"

"""The persona picker lists source/'s personas with name and face; choosing one reloads the engine with it."""

from __future__ import annotations

import json
import shutil

from pipelines.settings import DEFAULT_PERSONA, Settings, load_settings
from tests.app.conftest import ToyFactory


def _personas(tmp_path):
    root = tmp_path / "source"
    lin = root / "default"
    lin.mkdir(parents=True)
    for f in ("persona.json", "chat.jsonl", "portrait.png"):
        shutil.copy(DEFAULT_PERSONA / f, lin / f)
    astro = root / "astro"
    astro.mkdir()
    meta = {"name": "astro", "display_name": "Astro", "language": "en", "voice": {"f0_median_hz": 120.0}}
    (astro / "persona.json").write_text(json.dumps(meta), encoding="utf-8")
    shutil.copy(DEFAULT_PERSONA / "portrait.png", astro / "portrait.png")
    (root / "not-a-persona").mkdir()  # no persona.json: not listed
    return root, lin, astro


def test_picker_lists_personas_and_switching_reloads_with_that_persona(make_window, tmp_path, qtbot):
    root, lin, astro = _personas(tmp_path)
    factory = ToyFactory(tmp_path)
    w = make_window(factory, settings=Settings(output_dir=str(tmp_path / "out"), persona=str(lin)), personas_dir=root)
    picker = w.persona_picker
    assert picker.names() == ["Astro", "小林 Lin"]
    assert all(not picker.combo.itemIcon(i).isNull() for i in range(picker.combo.count()))
    assert picker.combo.currentText() == "小林 Lin"
    first = w.controller.engine
    assert picker.choose(astro)
    qtbot.waitUntil(lambda: w.controller.engine not in (None, first) and w.chat.send_button.isEnabled(), timeout=60_000)
    eng = w.controller.engine
    assert eng.persona.root.resolve() == astro.resolve() and eng.persona.voice.f0_median_hz == 120.0
    assert w.persona_label.text() == "Astro" and picker.combo.currentText() == "Astro"
    assert load_settings(w.settings_path).persona == str(astro)  # the choice is saved
    assert w.settings_panel.widgets["persona"].value() == str(astro) and not w.settings_panel.dirty
    turn = w.send("hello")
    qtbot.waitUntil(lambda: turn in w._records, timeout=60_000)
    assert w._records[turn].status == "ok"

"""Settings panel: built from the field metadata, folders checked as chosen, saved like the CLI."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QSpinBox

from pipelines.settings import Settings, iter_fields, load_settings
from tests.app.conftest import ToyFactory


def _sovits_folder(root):
    d = root / "so-vits" / "44k"
    d.mkdir(parents=True)
    (d / "G_800.pth").write_bytes(b"\0" * 2048)
    (d / "config.json").write_text(json.dumps({"spk": {"lin": 0}, "data": {"sampling_rate": 44100}}))
    return d


def test_every_setting_has_a_widget_of_its_kind(styled_app, qtbot, tmp_path):
    from app.settings_panel import PathField, SettingsPanel

    panel = SettingsPanel(Settings(), tmp_path / "settings.json")
    qtbot.addWidget(panel)
    for name, f, value in iter_fields(Settings()):
        w = panel.widgets[name]
        meta = f.metadata
        if meta.get("choices"):
            assert isinstance(w, QComboBox) and [w.itemData(i) for i in range(w.count())] == list(meta["choices"])
        elif isinstance(value, bool):
            assert isinstance(w, QCheckBox)
        elif isinstance(value, int):
            assert isinstance(w, QSpinBox)
            if meta.get("hi") is not None:
                assert w.maximum() == meta["hi"] and w.minimum() == meta["lo"]
        elif isinstance(value, float):
            assert isinstance(w, QDoubleSpinBox)
        elif meta.get("path"):
            assert isinstance(w, PathField)
        assert meta.get("help", "") in w.toolTip()
    assert Settings.from_dict(panel.values()) == Settings()  # the form round-trips the defaults


def test_chosen_folder_is_checked_saved_and_applied(make_window, qtbot, tmp_path, monkeypatch):
    factory = ToyFactory(tmp_path)
    w = make_window(factory)
    panel = w.settings_panel
    field = panel.widgets["voice.sovits.model_dir"]
    # a folder that is not a so-vits model: refused with the reason
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(empty))
    qtbot.mouseClick(field.browse, Qt.MouseButton.LeftButton)
    assert field.value() == str(empty)
    assert field.check_label.text().startswith("✗") and "G_*.pth" in field.check_label.text()
    assert field.check_label.property("check") == "bad"
    # a real layout: found, and what was found
    good = _sovits_folder(tmp_path)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(good.parent))
    qtbot.mouseClick(field.browse, Qt.MouseButton.LeftButton)
    text = field.check_label.text()
    assert text.startswith("✓") and "G_800.pth" in text and "lin" in text
    panel.widgets["face.fps"].setValue(30)
    assert panel.save_button.isEnabled()
    applied = []
    panel.applied.connect(applied.append)
    n_engines = len(factory.engines)
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    # saved to the same file the CLI reads
    saved = load_settings(tmp_path / "settings.json")
    assert saved.voice.sovits.model_dir == str(good.parent) and saved.face.fps == 30
    assert applied and applied[0] == saved
    assert [p.name for p in tmp_path.iterdir() if "settings" in p.name] == ["settings.json"], "a temp file was left"
    # applied: the engine reloads in the background with the new settings, the window stays usable
    qtbot.waitUntil(lambda: len(factory.engines) == n_engines + 1 and w.controller.engine is not None, timeout=60_000)
    assert w.controller.engine.settings.face.fps == 30
    assert w.chat.send_button.isEnabled()


def test_invalid_needed_folder_is_not_saved(make_window, qtbot, tmp_path):
    w = make_window()
    panel = w.settings_panel
    combo = panel.widgets["voice.vc_backend"]
    combo.setCurrentIndex(combo.findData("sovits"))
    panel.widgets["voice.sovits.model_dir"].choose(str(tmp_path))
    before = (tmp_path / "settings.json").exists()
    assert panel.save() is None
    msg = panel.message.text()
    assert "Not saved" in msg and "voice.sovits.model_dir" in msg and "voice.sovits.contentvec_dir" in msg
    assert (tmp_path / "settings.json").exists() == before


@pytest.mark.parametrize(
    "name,make,expect",
    [
        ("dialogue.chatglm.model_dir", lambda p: ((p / "config.json").write_text("{}"), p)[1], "no weights"),
        ("face.wav2lip.checkpoint", lambda p: ((p / "w.pth").write_bytes(b"x" * 10), p / "w.pth")[1], "not a Wav2Lip"),
        ("dialogue.chatglm.ptuning_dir", lambda p: p, "no P-tuning checkpoint"),
        ("persona", lambda p: p, "no persona.json"),
    ],
)
def test_folder_checks_say_why(tmp_path, name, make, expect):
    from app.folder_checks import check_field

    target = make(tmp_path)
    check = check_field(name, str(target), Settings())
    assert check.ok is False and expect in check.message


def test_folder_checks_describe_what_was_found(tmp_path, tiny_glm):
    from app.folder_checks import check_field
    from pipelines.settings import DEFAULT_PERSONA

    c = check_field("dialogue.chatglm.model_dir", str(tiny_glm), Settings())
    assert c.ok and "glm" in c.message.lower() and "weight file" in c.message
    c = check_field("persona", str(DEFAULT_PERSONA), Settings())
    assert c.ok and "chat log" in c.message
    assert check_field("face.face", "", Settings()).ok is None


def test_revert_without_a_settings_file_says_so_and_shows_the_defaults(styled_app, qtbot, tmp_path):
    from app.settings_panel import SettingsPanel

    path = tmp_path / "settings.json"
    panel = SettingsPanel(Settings(), path)
    qtbot.addWidget(panel)
    spin = panel.widgets["threads"]
    spin.setValue(3)
    assert panel.dirty
    panel.revert()
    assert spin.value() == Settings().threads and not panel.dirty
    msg = panel.message.text()
    assert "no settings file" in msg.lower() and str(path) in msg and "Reloaded" not in msg
    assert not path.exists()
    # with a file, Revert reloads it
    spin.setValue(2)
    assert panel.save() is not None
    spin.setValue(5)
    panel.revert()
    assert spin.value() == 2 and panel.message.text() == f"Reloaded {path}."

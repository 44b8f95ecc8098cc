"""Settings: the dialogue endpoint is checked against a real server on 127.0.0.1 when it is picked."""

from PySide6.QtCore import Qt

from tests.dialogue.openai_servers import ScriptServer, free_port


def _panel(qtbot, tmp_path):
    from app.settings_panel import SettingsPanel
    from pipelines.settings import Settings

    panel = SettingsPanel(Settings(), tmp_path / "settings.json")
    qtbot.addWidget(panel)
    return panel


def test_a_live_endpoint_lists_its_models_and_offers_them_to_the_model_field(qtbot, tmp_path):
    server = ScriptServer().start()
    try:
        panel = _panel(qtbot, tmp_path)
        field = panel.widgets["dialogue.openai.endpoint"]
        field.setText(server.endpoint)
        field.editingFinished.emit()
        qtbot.waitUntil(lambda: field.check_label.text().startswith("✓"), timeout=15000)
        assert ScriptServer.MODEL in field.check_label.text() and field.models == [ScriptServer.MODEL]
        completer = panel.widgets["dialogue.openai.model"].completer()
        assert (
            completer is not None
            and completer.model().index(0, 0).data(Qt.ItemDataRole.DisplayRole) == ScriptServer.MODEL
        )
    finally:
        server.stop()


def test_a_dead_endpoint_gets_one_line_naming_it(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path)
    field = panel.widgets["dialogue.openai.endpoint"]
    url = f"http://127.0.0.1:{free_port()}/v1"
    field.setText(url)
    field.editingFinished.emit()
    qtbot.waitUntil(lambda: field.check_label.text().startswith("✗"), timeout=15000)
    text = field.check_label.text()
    assert url.split("/v1")[0] in text and "\n" not in text and field.models == []

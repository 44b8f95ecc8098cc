import json

import pytest

from pipelines.cli_settings import add_settings_arguments, settings_from_args
from pipelines.settings import Settings, SettingsError, load_settings, save_settings


def test_round_trip(tmp_path):
    s = Settings()
    s.face.fps = 30
    s.voice.vc_backend = "none"
    s.dialogue.model_dir = "module/chatglm-6b"
    path = save_settings(s, tmp_path / "settings.json")
    loaded = load_settings(path)
    assert loaded == s
    assert json.loads(path.read_text())["face"]["fps"] == 30


def test_validation_names_each_wrong_field(tmp_path):
    bad = {"face": {"fps": "fast", "backend": "pixar"}, "voice": {"transpose": 99}, "nonsense": 1}
    p = tmp_path / "s.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(SettingsError) as err:
        load_settings(p)
    text = str(err.value)
    assert "face.fps: must be int, got 'fast'" in text
    assert "nonsense: unknown setting" in text
    # type errors are reported first; a type-correct file then gets range/choice errors
    p.write_text(json.dumps({"face": {"backend": "pixar"}, "voice": {"transpose": 99}}))
    with pytest.raises(SettingsError) as err:
        load_settings(p)
    assert "face.backend: must be one of warp, wav2lip, got 'pixar'" in str(err.value)
    assert "voice.transpose: must be between -24 and 24, got 99" in str(err.value)


def test_invalid_json_says_where(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"face": {"fps": 25,}}')
    with pytest.raises(SettingsError, match="line 1"):
        load_settings(p)


def test_failed_save_keeps_the_old_file(tmp_path):
    p = tmp_path / "settings.json"
    save_settings(Settings(), p)
    before = p.read_text()
    s = Settings()
    s.face.fps = 0  # invalid
    with pytest.raises(SettingsError):
        save_settings(s, p)
    assert p.read_text() == before
    assert [f.name for f in tmp_path.iterdir()] == ["settings.json"]


def test_cli_options_come_from_the_settings_object(tmp_path):
    import argparse

    p = argparse.ArgumentParser()
    add_settings_arguments(p)
    args = p.parse_args(["--face.fps", "30", "--voice.vc_backend", "sovits", "--dialogue.quantize_int8", "yes"])
    s = settings_from_args(args)
    assert s.face.fps == 30 and s.voice.vc_backend == "sovits" and s.dialogue.quantize_int8 is True
    with pytest.raises(SystemExit):
        p.parse_args(["--face.backend", "pixar"])
    with pytest.raises(SettingsError, match="face.fps: must be int"):
        settings_from_args(p.parse_args(["--face.fps", "fast"]))

import argparse
import json

import pytest

from pipelines.cli_settings import add_settings_arguments, settings_from_args
from pipelines.settings import Settings, SettingsError, load_settings, save_settings


def test_round_trip(tmp_path):
    s = Settings()
    s.face.fps = 30
    s.voice.vc_backend = "none"
    s.dialogue.chatglm.model_dir = "module/chatglm-6b"
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
    p.write_text(json.dumps({"face": {"backend": "pixar"}, "voice": {"sovits": {"transpose": 99}}}))
    with pytest.raises(SettingsError) as err:
        load_settings(p)
    assert "face.backend: must be one of warp, wav2lip, personal, got 'pixar'" in str(err.value)
    assert "voice.sovits.transpose: must be between -24 and 24, got 99" in str(err.value)


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
    args = p.parse_args(["--face.fps", "30", "--voice.vc_backend", "sovits", "--dialogue.chatglm.quantize_int8", "yes"])
    s = settings_from_args(args)
    assert s.face.fps == 30 and s.voice.vc_backend == "sovits" and s.dialogue.chatglm.quantize_int8 is True
    with pytest.raises(SystemExit):
        p.parse_args(["--face.backend", "pixar"])
    with pytest.raises(SettingsError, match="face.fps: must be int"):
        settings_from_args(p.parse_args(["--face.fps", "fast"]))


def test_a_settings_file_of_the_earlier_flat_layout_still_loads_into_each_backends_section(tmp_path):
    """settings.json written before backends had their own sections: nothing the user set is lost."""
    old = {
        "dialogue": {"backend": "chatglm", "model_dir": "module/chatglm-6b", "temperature": 0.3},
        "voice": {"vc_backend": "sovits", "sovits_dir": "module/So-VITS/44k", "transpose": 3, "tts_rate": 150},
        "face": {"backend": "wav2lip", "checkpoint": "module/wav2lip/wav2lip_gan.pth", "batch_size": 16, "fps": 30},
    }
    p = tmp_path / "settings.json"
    p.write_text(json.dumps(old))
    s = load_settings(p)
    assert s.dialogue.backend == "chatglm" and s.dialogue.chatglm.model_dir == "module/chatglm-6b"
    assert s.dialogue.chatglm.temperature == s.dialogue.openai.temperature == 0.3  # shared knob: to each backend
    assert s.voice.sovits.model_dir == "module/So-VITS/44k"
    assert s.voice.sovits.transpose == s.voice.world.transpose == 3
    assert s.voice.espeak.rate == s.voice.pyttsx3.rate == 150
    assert s.face.wav2lip.checkpoint == "module/wav2lip/wav2lip_gan.pth" and s.face.wav2lip.batch_size == 16
    assert s.face.fps == 30
    assert json.loads(p.read_text()) == old  # the file is only rewritten when the user saves
    saved = json.loads(save_settings(s, tmp_path / "new.json").read_text())
    assert saved["dialogue"]["chatglm"]["model_dir"] == "module/chatglm-6b" and "model_dir" not in saved["dialogue"]
    # a value under its new name wins over an old one in the same file
    both = {"dialogue": {"model_dir": "old", "chatglm": {"model_dir": "new"}}}
    assert Settings.from_dict(both).dialogue.chatglm.model_dir == "new"


def test_old_option_names_still_work_on_the_command_line():

    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    args = parser.parse_args(
        ["--dialogue.model_dir", "m", "--face.wav2lip.batch_size", "8", "--voice.tts_voice", "en-us"]
    )
    s = settings_from_args(args)
    assert s.dialogue.chatglm.model_dir == "m" and s.face.wav2lip.batch_size == 8
    assert s.voice.espeak.voice == s.voice.pyttsx3.voice == "en-us"
    assert "--dialogue.model_dir" not in parser.format_help()  # hidden: --help shows today's names


def test_every_backend_is_built_from_its_own_typed_section_not_the_whole_settings():
    import dataclasses
    import importlib

    from pipelines.paths import DEFAULT_PERSONA
    from pipelines.persona import Persona
    from pipelines.registry import BACKENDS
    from pipelines.stage import section_of
    from pipelines.stage_env import StageEnv

    s = Settings()
    s.threads = 3
    persona = Persona.load(DEFAULT_PERSONA)
    sections = set()
    for (kind, backend), target in BACKENDS.items():
        module, name = target.split(":")
        cls = getattr(importlib.import_module(module), name)
        section = section_of(s, cls.settings_section)
        assert section is None or dataclasses.is_dataclass(section), (kind, backend)
        if section is not None:
            assert cls.settings_section.split(".")[-1] == backend  # dialogue.chatglm for chatglm, …
            sections.add(cls.settings_section)
        stage = cls.from_settings(s, persona)
        assert stage.cfg is section and isinstance(stage.env, StageEnv) and stage.env.threads == 3
        assert not any(isinstance(v, Settings) for v in vars(stage).values()), f"{backend} holds the whole Settings"
    assert len(sections) == 9  # retrieval, chatglm, openai, espeak, pyttsx3, world, sovits, wav2lip, personal

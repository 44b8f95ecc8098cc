"""Bad persona.json / settings.json / config.json / adapter_config.json: one line naming the file and what to do."""

from __future__ import annotations

import json

import pytest

from .helpers import ROOT, one_error_line, run_cli

PERSONA_CASES = [
    ("[1, 2]", "must be a JSON object"),
    ('{"voice": "alto"}', "'voice' must be an object"),
    ('{"voice": {"pitchy": 3}}', "unknown key 'pitchy' in 'voice'"),
    ('{"voice": {"f0_median_hz": "high"}}', "voice.f0_median_hz must be a number"),
    ('{"voice": {"rate_wpm": 1.5}}', "voice.rate_wpm must be a whole number"),
    ('{"name": 3}', "'name' must be a string"),
    ('{"name": "x",', "invalid JSON at line 1"),
]


@pytest.mark.parametrize("text, expect", PERSONA_CASES)
def test_persona_json_problems(tmp_path, text, expect):
    from pipelines.persona import Persona, PersonaError

    (tmp_path / "persona.json").write_text(text)
    with pytest.raises(PersonaError) as info:
        Persona.load(tmp_path)
    msg = str(info.value)
    assert expect in msg and "persona.json" in msg and "\n" not in msg, msg


def test_binary_persona_json_names_the_file(tmp_path):
    from pipelines.persona import Persona, PersonaError

    (tmp_path / "persona.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(PersonaError, match=r"persona\.json: not a text file"):
        Persona.load(tmp_path)


def test_good_persona_voice_still_loads(tmp_path):
    from pipelines.persona import Persona

    (tmp_path / "persona.json").write_text(json.dumps({"voice": {"f0_median_hz": 180, "rate_wpm": 150}}))
    p = Persona.load(tmp_path)
    assert p.voice.f0_median_hz == 180.0 and isinstance(p.voice.f0_median_hz, float) and p.voice.rate_wpm == 150
    assert Persona.load(ROOT / "source" / "default").name


def test_demo_with_a_list_persona_is_one_line(tmp_path):
    (tmp_path / "persona.json").write_text("[]")
    line = one_error_line(
        run_cli(["main_demo.py", "--persona", str(tmp_path), "--text", "hi", "--output_dir", str(tmp_path / "out")])
    )
    assert "persona.json: must be a JSON object" in line, line


@pytest.mark.parametrize(
    "content, expect", [(b"\xff\xfe\x00junk", "not a text file"), (b"[1]", "JSON object"), (b"{,}", "not valid JSON")]
)
def test_settings_json_problems_are_one_line(tmp_path, content, expect):
    bad = tmp_path / "settings.json"
    bad.write_bytes(content)
    line = one_error_line(run_cli(["main_demo.py", "--settings", str(bad), "--text", "hi"]))
    assert expect in line and "settings.json" in line, line


def test_model_config_json_bad_json_says_what_to_do(tmp_path):
    from pipelines.dialogue.model_loader import ModelLoadError, read_model_config

    (tmp_path / "config.json").write_text('{"model_type": "glm",,}')
    with pytest.raises(ModelLoadError) as info:
        read_model_config(tmp_path)
    msg = str(info.value)
    assert "config.json: invalid JSON at line 1" in msg and "copy it again" in msg, msg

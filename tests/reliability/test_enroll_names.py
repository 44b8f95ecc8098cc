"""enroll --name is a name: nothing is written outside the persona folder (source/)."""

from __future__ import annotations

import pytest

from .helpers import one_error_line, run_cli


@pytest.mark.parametrize("name", ["../escape", "x/../../x2", "..", ".", "...", "a\\\\b", ""])
def test_traversal_names_are_refused_and_nothing_written(tmp_path, name):
    personas = tmp_path / "personas" / "source"
    personas.mkdir(parents=True)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = run_cli(
        ["-m", "pipelines", "enroll", "-q", "--name", name, "--persona-dir", str(personas), str(clip)], cwd=personas
    )
    line = one_error_line(proc)
    assert proc.returncode == 2
    assert "persona name" in line and ("plain name" in line or "use letters" in line), line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "something was written"


def test_plain_names_and_existing_persona_folders_still_work(tmp_path):
    from pipelines.face.avatar.enroll import DEFAULT_PERSONAS, persona_folder

    assert persona_folder("alice", tmp_path) == tmp_path / "alice"
    assert persona_folder("a.b-c_d", tmp_path) == tmp_path / "a.b-c_d"
    assert DEFAULT_PERSONAS.name == "source" and (DEFAULT_PERSONAS / "default" / "persona.json").is_file()
    existing = tmp_path / "bob"
    existing.mkdir()
    (existing / "persona.json").write_text("{}")
    assert persona_folder(str(existing)) == existing


def test_a_name_that_is_a_link_out_of_source_is_refused(tmp_path):
    from pipelines.face.avatar.enroll import EnrollmentError, persona_folder

    personas = tmp_path / "source"
    personas.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (personas / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(EnrollmentError, match="outside"):
        persona_folder("link", personas)

"""One repository root for every module that needs it (a moved file once put personas in pipelines/source)."""

from pipelines.assets.portrait import DEFAULT_OUT
from pipelines.face.avatar.enroll import DEFAULT_PERSONAS
from pipelines.paths import REPO_ROOT
from pipelines.settings import DEFAULT_SETTINGS_FILE, Settings


def test_every_default_folder_is_under_the_repository_root():
    assert (REPO_ROOT / "main_demo.py").is_file() and (REPO_ROOT / "pipelines").is_dir()
    assert DEFAULT_PERSONAS == REPO_ROOT / "source"
    assert DEFAULT_OUT == REPO_ROOT / "source" / "default" / "portrait.png" and DEFAULT_OUT.is_file()
    assert DEFAULT_SETTINGS_FILE.parent == REPO_ROOT
    assert Settings().persona_dir == REPO_ROOT / "source" / "default"

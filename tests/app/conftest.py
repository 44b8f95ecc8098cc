"""Fixtures for the desktop-app tests: offscreen Qt, styled app, windows over toy or real engines."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # no display needed; the Xvfb test starts its own process
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.qt_env import check_qt_libraries, prepare_qt_env  # noqa: E402

prepare_qt_env()

import pytest  # noqa: E402

#: why Qt cannot start here (missing system libraries and the apt-get line), or None
QT_MISSING = check_qt_libraries("offscreen")

if QT_MISSING:

    class _QtSkip(pytest.Item):
        def runtest(self):
            pytest.skip(QT_MISSING)

        def reportinfo(self):
            return self.path, None, self.name

    class _QtCannotStart(pytest.File):
        def collect(self):  # one skipped item per module (counted as a test: the run still passes)
            yield _QtSkip.from_parent(self, name="qt")

    def pytest_pycollect_makemodule(module_path, parent):
        """Every Qt test module becomes one skip (its imports of PySide6 would fail)."""
        return _QtCannotStart.from_parent(parent, path=module_path)


from pipelines.engine import Engine  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.testing.toy_stages import FlatFace, PassAudio, ScriptedDialogue, ToneTTS  # noqa: E402

REPLY = "你好，我是小林。今天天气很好！我们去公园散步吧？Sure, let's go. It will be fun."


@pytest.fixture(scope="session", autouse=True)
def _limit_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture
def styled_app(qapp):
    from app.qt_env import install_fonts
    from app.style import STYLESHEET

    install_fonts(qapp)
    qapp.setStyleSheet(STYLESHEET)
    return qapp


class ToyFactory:
    """Builds engines over the toy stages; keeps the stages of the last one for inspection."""

    def __init__(self, tmp_path, reply=REPLY, delay=0.02, fail_on=None):
        self.tmp_path, self.reply, self.delay, self.fail_on = tmp_path, reply, delay, fail_on
        self.stages = None
        self.engines = []

    def __call__(self, settings, sink):
        self.stages = {
            "dialogue": ScriptedDialogue(self.reply, self.delay),
            "tts": ToneTTS(self.fail_on),
            "vc": PassAudio(),
            "face": FlatFace(),
        }
        eng = Engine(settings, stages=self.stages, sink=sink, log_path=self.tmp_path / "log.jsonl")
        self.engines.append(eng)
        return eng


@pytest.fixture
def make_window(styled_app, qtbot, tmp_path):
    """``make_window(factory=None, **kw)``: a shown MainWindow (toy stages by default), engine loaded."""
    from app.audio_output import SilentAudioOutput
    from app.main_window import MainWindow

    windows = []

    def make(factory=None, settings=None, wait_ready=True, **kw):
        factory = factory or ToyFactory(tmp_path)
        settings = settings or Settings(output_dir=str(tmp_path / "out"))
        audio = kw.pop("audio", None) or SilentAudioOutput(record=True)
        kw.setdefault("greet", False)  # only the greeting's own tests hear it
        w = MainWindow(
            settings=settings, settings_path=tmp_path / "settings.json", engine_factory=factory, audio=audio, **kw
        )
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        if wait_ready:
            qtbot.waitUntil(lambda: w.controller.engine is not None and w.chat.send_button.isEnabled(), timeout=120_000)
        return w

    yield make
    for w in windows:
        w.shutdown()


@pytest.fixture(scope="session")
def tiny_glm(tmp_path_factory):
    """A tiny random GLM folder (real architecture and tokenizer) trained on the default chat log."""
    from pipelines.dialogue.tiny_model import build_tiny_glm, chat_log_texts
    from pipelines.settings import DEFAULT_PERSONA

    out = tmp_path_factory.mktemp("models") / "tiny-glm"
    return build_tiny_glm(out, chat_log_texts(DEFAULT_PERSONA / "chat.jsonl"), vocab_size=600)

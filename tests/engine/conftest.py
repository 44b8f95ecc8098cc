import pytest

from pipelines.engine import Engine
from pipelines.settings import Settings
from pipelines.testing.toy_stages import CollectSink, FlatFace, PassAudio, ScriptedDialogue, ToneTTS

REPLY = "你好，我是小林。今天天气很好！我们去公园散步吧？Sure, let's go. It will be fun."


@pytest.fixture
def make_engine(tmp_path):
    engines = []

    def make(reply=REPLY, delay=0.01, fail_on=None, slow_sink=0.0):
        settings = Settings(output_dir=str(tmp_path))
        stages = {
            "dialogue": ScriptedDialogue(reply, delay),
            "tts": ToneTTS(fail_on),
            "vc": PassAudio(),
            "face": FlatFace(),
        }
        sink = CollectSink(slow=slow_sink)
        eng = Engine(settings, stages=stages, sink=sink, log_path=tmp_path / "log.jsonl").start()
        engines.append(eng)
        return eng, stages["dialogue"], sink

    yield make
    for e in engines:
        e.close()

import json
import time

import pytest

from pipelines.engine import Engine, EngineError
from pipelines.messages import TurnFinished
from pipelines.settings import Settings
from pipelines.stage import Stage
from tests.engine.conftest import REPLY


def test_sentences_stream_in_order_before_dialogue_finishes(make_engine):
    eng, dialogue, sink = make_engine(delay=0.03)
    rec = eng.wait(eng.submit("hi"), timeout=30)
    assert rec.status == "ok"
    chunks = sink.turn_chunks(rec.turn_id)
    assert len(chunks) >= 4
    assert [c.seq for c in chunks] == sorted(c.seq for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == REPLY.replace(" ", "")
    first_arrival = sink.chunks[0][0]
    assert first_arrival < dialogue.finished_at[rec.turn_id], (
        "first sentence must reach the sink while the dialogue still writes"
    )
    assert rec.reply == REPLY and rec.mode == "scripted"


def test_turn_record_has_timings_and_is_logged(make_engine, tmp_path):
    eng, _, sink = make_engine()
    rec = eng.wait(eng.submit("hi"), timeout=30)
    assert 0 < rec.first_text_s <= rec.first_audio_s <= rec.first_frame_s <= rec.wall_s
    assert rec.audio_s == pytest.approx(sum(c.duration for c in sink.turn_chunks(rec.turn_id)), abs=0.05)
    for name in ("dialogue", "splitter", "tts", "vc", "face", "sink"):
        assert rec.stages[name].outputs >= 0 and rec.stages[name].busy_s >= 0
    assert rec.stages["tts"].rtf is not None and rec.rtf > 0
    lines = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines[-1]["user_text"] == "hi" and lines[-1]["reply"] == REPLY and lines[-1]["status"] == "ok"


def test_interrupt_drops_everything_of_the_old_turn(make_engine):
    eng, dialogue, sink = make_engine(reply="第一句话在这里。" * 40, delay=0.02, slow_sink=0.02)
    turn = eng.submit("talk a lot")
    deadline = time.time() + 20
    while not sink.turn_chunks(turn) and time.time() < deadline:
        time.sleep(0.01)
    assert sink.turn_chunks(turn), "nothing reached the sink"
    t_interrupt = time.perf_counter()
    assert eng.interrupt() == turn
    rec = eng.wait(turn, timeout=20)
    assert rec.status == "interrupted"
    time.sleep(0.3)
    late = [t for t, c in sink.chunks if c.turn_id == turn and t > t_interrupt + 0.05]
    assert late == [], "chunks of the interrupted turn reached the sink after the interrupt"
    assert dialogue.stopped_early[turn]
    assert turn in sink.cancelled


def test_new_turn_interrupts_the_old_one(make_engine):
    eng, dialogue, sink = make_engine(reply="很长的一句话。" * 30, delay=0.02)
    first = eng.submit("one")
    time.sleep(0.2)
    second = eng.submit("two")
    assert eng.wait(first, timeout=20).status == "interrupted"
    rec2 = eng.wait(second, timeout=60)
    assert rec2.status == "ok"
    assert [c.seq for c in sink.turn_chunks(second)] == list(range(len(sink.turn_chunks(second))))
    n_first = len(sink.turn_chunks(first))
    assert n_first < len(sink.turn_chunks(second))


def test_stage_error_names_stage_and_next_turn_works(make_engine):
    errors = []
    eng, _, sink = make_engine(reply="This is fine. Then boom happens. More text.", fail_on="boom")
    eng.subscribe(lambda stage, msg: errors.append(msg) if stage == "engine" and hasattr(msg, "stage") else None)
    rec = eng.wait(eng.submit("go"), timeout=30)
    assert rec.status == "error"
    assert "tts" in rec.error and "cannot say 'boom'" in rec.error
    assert errors and errors[0].stage == "tts"
    # the workers survived: a turn without the bad word works
    eng.stages["dialogue"].reply = "All good now. Nothing breaks."
    rec2 = eng.wait(eng.submit("again"), timeout=30)
    assert rec2.status == "ok" and len(sink.turn_chunks(rec2.turn_id)) >= 1


def test_turn_finished_is_published_once_per_turn(make_engine):
    eng, _, _ = make_engine()
    finished = []
    eng.subscribe(lambda stage, msg: finished.append(msg.turn_id) if isinstance(msg, TurnFinished) else None)
    a = eng.submit("a")
    eng.wait(a, timeout=30)
    b = eng.submit("b")
    eng.wait(b, timeout=30)
    assert finished == [a, b]


def test_clear_resets_dialogue_history(make_engine):
    eng, dialogue, _ = make_engine()
    eng.wait(eng.submit("remember me"), timeout=30)
    assert dialogue.history == ["remember me"]
    eng.clear()
    t = eng.submit("new")
    eng.wait(t, timeout=30)
    assert dialogue.history == ["new"]


def test_load_failure_names_the_stage(tmp_path):
    class Broken(Stage):
        name = "vc"

        def load(self):
            raise FileNotFoundError("G_*.pth not found in module/So-VITS/44k")

    from pipelines.testing.toy_stages import CollectSink, FlatFace, ScriptedDialogue, ToneTTS

    stages = {"dialogue": ScriptedDialogue("x"), "tts": ToneTTS(), "vc": Broken(), "face": FlatFace()}
    eng = Engine(Settings(output_dir=str(tmp_path)), stages=stages, sink=CollectSink())
    with pytest.raises(EngineError, match=r"stage 'vc'.*G_\*\.pth not found"):
        eng.start()


def test_submit_rejects_empty_text(make_engine):
    eng, _, _ = make_engine()
    with pytest.raises(ValueError, match="empty"):
        eng.submit("   ")


def test_interrupt_of_a_finished_turn_marks_it_for_front_ends_and_keeps_its_record(make_engine):
    """A front end still playing a finished turn stops it: the gate says so, the record stays 'ok'."""
    eng, _, sink = make_engine()
    first = eng.wait(eng.submit("hi"), timeout=30)
    assert first.status == "ok" and eng.active_turn is None
    assert not eng.gate.is_cancelled(first.turn_id)
    assert eng.interrupt(first.turn_id) == first.turn_id
    assert eng.gate.is_cancelled(first.turn_id) and eng.record(first.turn_id).status == "ok"
    second = eng.submit("again")
    assert eng.interrupt(second) == second  # the running turn: interrupted as before
    assert eng.wait(second, timeout=30).status == "interrupted"

"""Retrieval dialogue over the default persona's chat log (the embedded default backend)."""

import pytest

from pipelines.dialogue.chat_data import load_chat_log
from pipelines.dialogue.retrieval import FALLBACK_EN, FALLBACK_ZH, RetrievalDialogue
from pipelines.messages import TextChunk, TurnEnd, UserTurn
from pipelines.persona import Persona
from pipelines.settings import DEFAULT_PERSONA, Settings
from pipelines.stage import TurnContext
from pipelines.testing.harness import run_stage


@pytest.fixture(scope="module")
def log_replies():
    examples, _ = load_chat_log(DEFAULT_PERSONA / "chat.jsonl")
    return {e.prompt: e.response for e in examples if not e.history}


@pytest.fixture
def stage():
    settings = Settings()
    settings.dialogue.retrieval.stream_delay_ms = 0
    st = RetrievalDialogue.from_settings(settings, Persona.load(DEFAULT_PERSONA))
    st.load()
    return st


def ask(stage, text, turn_id=1):
    """One turn through a real worker: (reply, its chunks, the turn's end with the stage's facts)."""
    *chunks, end = run_stage(stage, [UserTurn(turn_id, text)], keep_turn_ends=True)
    assert isinstance(end, TurnEnd)
    return "".join(c.text for c in chunks), chunks, end


@pytest.mark.parametrize(
    "prompt", ["你好，介绍一下你自己", "谢谢", "今天天气怎么样？", "Who are you?", "Tell me a joke"]
)
def test_exact_prompt_gets_its_response(stage, log_replies, prompt):
    reply, _, ctx = ask(stage, prompt)
    assert reply == log_replies[prompt]
    assert ctx.info["dialogue_mode"] == "retrieval" and ctx.info["dialogue_match"] == prompt


@pytest.mark.parametrize(
    "said, meant",
    [
        ("请你介绍一下自己", "你好，介绍一下你自己"),
        ("你叫啥名字", "你叫什么名字？"),
        ("你会做什么", "你能做什么？"),
        ("What is your name", "What's your name?"),
        ("could you introduce yourself", "Hello, introduce yourself"),
        ("how is the weather", "How's the weather today?"),
    ],
)
def test_paraphrased_prompt_finds_the_right_response(stage, log_replies, said, meant):
    reply, _, ctx = ask(stage, said)
    assert reply == log_replies[meant], (said, ctx.info)


def test_unmatched_message_falls_back_in_the_users_language(stage):
    assert ask(stage, "量子色动力学的渐近自由是什么")[0] == FALLBACK_ZH
    reply, _, ctx = ask(stage, "explain quantum chromodynamics")
    assert reply == FALLBACK_EN and ctx.info["dialogue_fallback"] is True


def test_reply_streams_in_small_retrieval_chunks(stage, log_replies):
    reply, chunks, _ = ask(stage, "你好，介绍一下你自己", turn_id=7)
    assert len(chunks) >= 10
    assert all(isinstance(c, TextChunk) and c.mode == "retrieval" and c.turn_id == 7 for c in chunks)
    assert all(1 <= len(c.text) <= 4 for c in chunks)


def test_follow_up_uses_history_and_reset_forgets_it(stage):
    ask(stage, "你会累吗？")
    tired = ask(stage, "为什么？")[0]
    assert "程序" in tired
    stage.reset()
    ask(stage, "今天天气怎么样？")
    weather = ask(stage, "为什么？")[0]
    assert "看不到外面" in weather
    assert stage.history[-1] == ("为什么？", weather)
    stage.reset()
    assert stage.history == []


def test_cancel_stops_streaming_and_keeps_no_partial_history(stage):
    flag = {"cancel": False}
    ctx = TurnContext(3, is_cancelled=lambda: flag["cancel"])
    gen = stage.process(UserTurn(3, "你好，介绍一下你自己"), ctx)
    got = [next(gen), next(gen)]
    flag["cancel"] = True
    rest = list(gen)
    assert len(got) == 2 and rest == []
    assert stage.history == []


def test_persona_without_chat_log_replies_from_the_default_chat_log(tmp_path, log_replies):
    """A persona made by enrollment has no chat log of its own: it borrows the default persona's."""
    (tmp_path / "persona.json").write_text('{"name": "empty"}', encoding="utf-8")
    st = RetrievalDialogue.from_settings(Settings(), Persona.load(tmp_path))
    st.load()
    reply, _, _ = ask(st, "你好，介绍一下你自己")
    assert reply == log_replies["你好，介绍一下你自己"]


def test_registry_builds_the_dialogue_backends():
    from pipelines.dialogue.chatglm_stage import ChatGLMDialogue
    from pipelines.registry import build_stage

    settings = Settings()
    persona = Persona.load(DEFAULT_PERSONA)
    stage = build_stage("dialogue", settings, persona)
    assert isinstance(stage, RetrievalDialogue) and stage.name == "dialogue"
    settings.dialogue.backend = "chatglm"
    stage = build_stage("dialogue", settings, persona)
    assert isinstance(stage, ChatGLMDialogue) and stage.name == "dialogue"

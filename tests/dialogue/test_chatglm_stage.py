"""The chatglm stage: streams while generating, stops at once on interrupt, keeps history."""

import threading
import time

import pytest
import torch

from pipelines.dialogue.chatglm_stage import ChatGLMDialogue
from pipelines.messages import TextChunk, UserTurn
from pipelines.persona import Persona
from pipelines.settings import DEFAULT_PERSONA
from pipelines.splitter import SplitterStage
from pipelines.stage import TurnContext
from tests.dialogue.conftest import TRAINED, chat_settings


def make_stage(model_dir, ptuning_dir="", **dialogue):
    stage = ChatGLMDialogue.from_settings(
        chat_settings(model_dir, ptuning_dir, **dialogue), Persona.load(DEFAULT_PERSONA)
    )
    stage.load()
    return stage


def generate_threads():
    return [t for t in threading.enumerate() if t.name == "dialogue-generate"]


def test_first_sentence_reaches_the_voice_before_generation_ends(tiny_glm, tuned_adapter):
    stage = make_stage(tiny_glm, tuned_adapter)
    splitter = SplitterStage(min_chars=6)
    ctx, sctx = TurnContext(1), TurnContext(1)
    first_sentence_at = None
    sentences = []
    chunks = []
    for chunk in stage.process(UserTurn(1, TRAINED[0]["prompt"]), ctx):
        chunks.append(chunk)
        for sentence in splitter.process(chunk, sctx):
            sentences.append(sentence.text)
            if first_sentence_at is None:
                first_sentence_at = time.perf_counter()
    sentences += [s.text for s in splitter.end_turn(sctx)]
    stats = stage.last_stats
    assert "".join(sentences) == TRAINED[0]["response"] and len(sentences) >= 3
    assert all(isinstance(c, TextChunk) and c.mode == "llm" for c in chunks) and len(chunks) >= 10
    assert sentences[0] == "你好，我是小林，"
    # generate() was still producing tokens when the first sentence went on to the voice
    assert first_sentence_at < stats.produced_at[-1]
    assert ctx.info["dialogue_tokens"] == stats.new_tokens > 10
    assert ctx.info["dialogue_first_token_s"] > 0 and ctx.info["dialogue_tokens_per_s"] > 0


def test_interrupt_stops_generation_at_once(tiny_glm):
    stage = make_stage(tiny_glm, max_new_tokens=2000)  # the random base model rambles on
    flag = {"cancel": False}
    ctx = TurnContext(2, is_cancelled=lambda: flag["cancel"])
    gen = stage.process(UserTurn(2, "讲个笑话吧"), ctx)
    first = next(gen)
    flag["cancel"] = True
    rest = list(gen)
    stats = stage.last_stats
    assert first.text and stats.stopped_early
    assert len(rest) <= 3 and stats.new_tokens < 40  # stopped within a token or two, not 2000
    assert generate_threads() == []  # the generate() thread has ended
    assert len(stage.history) == 0  # an interrupted reply is not history

    # the worker closing the generator (a new turn arrives) stops it the same way
    gen = stage.process(UserTurn(3, "再讲一个"), TurnContext(3))
    next(gen)
    gen.close()
    assert stage.last_stats.stopped_early and stage.last_stats.new_tokens < 40
    assert generate_threads() == []


def test_history_is_kept_in_the_prompt_and_reset_clears_it(tiny_glm, tuned_adapter):
    stage = make_stage(tiny_glm, tuned_adapter, max_new_tokens=40)
    first = "".join(c.text for c in stage.process(UserTurn(1, TRAINED[1]["prompt"]), TurnContext(1)))
    assert first == TRAINED[1]["response"]
    assert stage.history.window() == [(TRAINED[1]["prompt"], first)]
    ids = stage.encode_prompt("next question")[0].tolist()
    text = stage.loaded.tokenizer.decode(ids)
    assert text.index(first) < text.index("next question")
    stage.reset()
    assert stage.history.window() == []
    assert first not in stage.loaded.tokenizer.decode(stage.encode_prompt("next question")[0].tolist())


def test_int8_quantisation_keeps_the_prefix_in_float32(tiny_glm, tuned_adapter):
    stage = make_stage(tiny_glm, tuned_adapter, quantize_int8=True, max_new_tokens=8)
    modules = list(stage.loaded.model.modules())
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in modules)
    assert not any(type(m) is torch.nn.Linear for m in modules)
    prefix = stage.loaded.model.prompt_encoder["default"].embedding.weight
    assert prefix.dtype == torch.float32
    chunks = list(stage.process(UserTurn(1, TRAINED[0]["prompt"]), TurnContext(1)))
    assert stage.last_stats.new_tokens >= 1 and all(c.mode == "llm" for c in chunks)


def test_missing_model_folder_is_a_clear_error():
    from pipelines.dialogue.model_loader import ModelLoadError

    with pytest.raises(ModelLoadError, match="dialogue.chatglm.model_dir is empty"):
        make_stage("")
    with pytest.raises(ModelLoadError, match="fp16 is for GPUs"):
        make_stage(DEFAULT_PERSONA.parent, dtype="fp16")

"""Prompt formats (THUDM round format, chat template) and the history token budget."""

import pytest

from pipelines.dialogue.history import ChatHistory
from pipelines.dialogue.prompt_format import PromptFormat, detect_format


def test_chatglm_round_format_matches_thudm_training_prompt():
    fmt = PromptFormat("chatglm")
    history = [("你好", "你好呀！"), ("你是谁？", "我是小林。")]
    assert fmt.build("再见", history) == (
        "[Round 0]\n问：你好\n答：你好呀！\n[Round 1]\n问：你是谁？\n答：我是小林。\n[Round 2]\n问：再见\n答："
    )
    assert PromptFormat("chatglm2").build("hi") == "[Round 1]\n\n问：hi\n\n答："


def test_chat_template_carries_system_prompt_and_history(tiny_glm):
    from pipelines.dialogue.model_loader import load_tokenizer, read_model_config

    tok = load_tokenizer(tiny_glm, False)
    assert detect_format(read_model_config(tiny_glm), tok) == "template"
    assert detect_format({"model_type": "chatglm"}, object()) == "chatglm"
    assert detect_format({"model_type": "chatglm", "multi_query_attention": True}, object()) == "chatglm2"
    text = PromptFormat("template", tok, "You are Lin.").build("bye", [("hi", "hello!")])
    assert text == "<|system|>\nYou are Lin.<|user|>\nhi<|assistant|>\nhello!<|user|>\nbye<|assistant|>\n"
    with pytest.raises(ValueError, match="chat template"):
        PromptFormat("template", object())


def test_history_drops_oldest_rounds_beyond_the_token_budget():
    h = ChatHistory(budget_tokens=20, count_tokens=len)  # one "token" per character
    h.add("aaaa", "bbbb")  # 10 characters with the newlines
    h.add("cccc", "dddd")  # 20 in all: fits
    assert h.window() == [("aaaa", "bbbb"), ("cccc", "dddd")]
    h.add("ee", "ff")  # 26: the oldest round goes
    assert h.window() == [("cccc", "dddd"), ("ee", "ff")] and h.tokens == 16
    h.add("x" * 30, "y")  # a round longer than the budget cannot be kept at all
    assert h.window() == []
    h.add("a", "b")
    h.clear()
    assert len(h) == 0 and h.tokens == 0

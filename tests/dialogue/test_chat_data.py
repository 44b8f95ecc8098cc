"""Chat-log parsing: JSON lines, JSON arrays, custom columns, bad lines reported by number."""

import json

import pytest

from pipelines.dialogue.chat_data import ChatDataError, Columns, load_chat_log, parse_chat_text
from pipelines.settings import DEFAULT_PERSONA


def test_default_persona_chat_log_is_clean_and_bilingual():
    examples, report = load_chat_log(DEFAULT_PERSONA / "chat.jsonl")
    assert report.problems == [] and report.skipped == 0
    assert report.kept == len(examples) >= 70
    assert report.with_history >= 5
    chinese = [e for e in examples if any("\u4e00" <= c <= "\u9fff" for c in e.prompt)]
    english = [e for e in examples if e.prompt.isascii()]
    assert len(chinese) > len(english) >= 10
    intro = [e for e in examples if e.prompt == "你好，介绍一下你自己"]
    assert len(intro) == 1 and "小林" in intro[0].response
    for e in examples:  # replies end with punctuation (the sentence splitter relies on it)
        assert e.response.rstrip('”」"')[-1] in "。！？!?.", e.response


def test_malformed_lines_are_reported_with_line_numbers():
    lines = [
        json.dumps({"prompt": "你好", "response": "你好呀！"}, ensure_ascii=False),
        '{"prompt": "broken", "response": ',  # 2: invalid JSON
        "",  # 3: blank, ignored
        json.dumps({"prompt": "no reply"}),  # 4: missing response
        json.dumps({"prompt": "x", "response": 5}),  # 5: wrong type
        json.dumps({"prompt": "x", "response": "y", "history": [["only one"]]}),  # 6: bad pair
        json.dumps(["a", "b"]),  # 7: not an object
        json.dumps({"prompt": "  ", "response": "y"}),  # 8: empty prompt
        json.dumps({"prompt": "再见", "response": "再见！", "history": [["q", "a"]]}, ensure_ascii=False),
    ]
    examples, report = parse_chat_text("\n".join(lines), source="chats.json")
    assert [e.prompt for e in examples] == ["你好", "再见"]
    assert examples[1].history == (("q", "a"),) and examples[1].line == 9
    assert report.kept == 2 and report.skipped == 6
    by_line = {p.line: p.problem for p in report.problems}
    assert sorted(by_line) == [2, 4, 5, 6, 7, 8]
    assert "invalid JSON" in by_line[2]
    assert "'response'" in by_line[4] and "prompt" in by_line[4]  # says which field and what is there
    assert "string" in by_line[5] and "int" in by_line[5]
    assert "history" in by_line[6]
    assert "object" in by_line[7]
    assert "empty" in by_line[8]
    summary = report.summary()
    assert "2 example(s) kept" in summary and "6 skipped" in summary and "line 4:" in summary


def test_json_array_with_custom_columns_and_line_numbers():
    text = (
        '[\n  {"content": "hi", "summary": "hello!"},\n'
        '  {"content": "q2"},\n'
        '  {"content": "q3", "summary": "a3", "hist": [["a", "b"]]}\n]\n'
    )
    examples, report = parse_chat_text(text, Columns("content", "summary", "hist"))
    assert [(e.prompt, e.response, e.line) for e in examples] == [("hi", "hello!", 2), ("q3", "a3", 4)]
    assert examples[1].history == (("a", "b"),)
    assert [(p.line, "summary" in p.problem) for p in report.problems] == [(3, True)]


def test_history_column_can_be_ignored():
    text = json.dumps({"prompt": "p", "response": "r", "history": "not a list"})
    assert parse_chat_text(text)[1].skipped == 1
    examples, report = parse_chat_text(text, Columns(history=""))
    assert report.kept == 1 and examples[0].history == ()


def test_unusable_file_is_a_clear_error(tmp_path):
    with pytest.raises(ChatDataError, match="not found"):
        load_chat_log(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n', encoding="utf-8")
    with pytest.raises(ChatDataError, match=r"no usable examples[\s\S]*line 1: no 'prompt' field"):
        load_chat_log(bad)
    examples, _ = load_chat_log(bad, prompt_column="question", response_column="answer")
    assert examples[0].response == "b"

"""GLM-4 in its native transformers layout (glm-4-9b-chat-hf): loads, chat template, stop tokens, a whole turn."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.dialogue.tiny_model import chat_log_texts
from pipelines.settings import DEFAULT_PERSONA
from tests.dialogue.glm4_layout import GLM4_SPECIALS, build_glm4, force_next_token
from tests.dialogue.test_prompt_cache import converse, stage_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def glm4(tmp_path_factory):
    return build_glm4(
        tmp_path_factory.mktemp("glm4") / "glm-4-9b-chat-hf", chat_log_texts(DEFAULT_PERSONA / "chat.jsonl")
    )


def test_glm4_folder_loads_natively_with_its_template_and_stop_tokens(glm4):
    cfg = json.loads((glm4 / "config.json").read_text())
    assert cfg["architectures"] == ["GlmForCausalLM"] and "rope_theta" in cfg and "auto_map" not in cfg
    stage = stage_for(glm4, dtype="bf16")
    loaded = stage.loaded
    assert not loaded.remote_code and loaded.generation == "" and stage.format.kind == "template"
    assert type(loaded.model).__name__ == "GlmForCausalLM"
    tok = loaded.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in GLM4_SPECIALS}
    assert stage.eos_token_ids() == [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]
    stage.history.add("你好", "你好呀")
    text = tok.decode(stage.encode_prompt("再见")[0].tolist())
    system = stage.format.system_prompt
    assert system and text == (
        f"[gMASK]<sop><|system|>\n{system}<|user|>\n你好<|assistant|>\n你好呀<|user|>\n再见<|assistant|>"
    )
    turns = converse(stage, ["你好，介绍一下你自己", "你是谁？"])
    assert all(t[0] for t in turns) and turns[1][2] >= turns[0][1]  # the kept cache works for GLM-4 too


@pytest.mark.parametrize("stop", ["<|user|>", "<|observation|>"])
def test_glm4_stops_on_its_role_tokens(glm4, tmp_path, stop):
    import shutil

    folder = tmp_path / "forced"
    shutil.copytree(glm4, folder)
    force_next_token(folder, stop)  # the model now always answers with the stop token
    stage = stage_for(folder, max_new_tokens=20)
    (text, _, _) = converse(stage, ["你好"])[0]
    assert stage.last_stats.new_tokens == 1 and stage.last_stats.output_ids == [
        stage.loaded.tokenizer.convert_tokens_to_ids(stop)
    ]
    assert text == "" and stop not in text


def test_glm4_whole_headless_turn(glm4, tmp_path):
    r = subprocess.run(
        [sys.executable, "main_demo.py", "--text", "你好，介绍一下你自己", "--json"]
        + ["--out", str(tmp_path / "turn.mp4"), "--output_dir", str(tmp_path), "--log", str(tmp_path / "log.jsonl")]
        + ["--dialogue.backend", "chatglm", "--dialogue.chatglm.model_dir", str(glm4)]
        + ["--dialogue.chatglm.max_new_tokens", "16", "--dialogue.chatglm.temperature", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    line = json.loads([x for x in r.stdout.splitlines() if x.startswith("{")][-1])
    assert line["status"] == "ok", line.get("error")
    assert line["mode"] == "llm" and line["reply"].strip()
    assert line["video_path"] == str(tmp_path / "turn.mp4") and (tmp_path / "turn.mp4").stat().st_size > 0

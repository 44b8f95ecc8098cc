"""Tiny real models for the dialogue tests, built offline once per session."""

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipelines.settings import DEFAULT_PERSONA  # noqa: E402

#: the chat lines the tiny model is P-tuned on (the first is the self-introduction)
TRAINED = [
    {
        "prompt": "你好，介绍一下你自己",
        "response": "你好，我是小林，一个由这个项目渲染出来的数字人。我不是真实存在的人，但可以陪你聊天、回答问题。",
    },
    {"prompt": "Who are you?", "response": "I'm Lin, a friendly digital persona."},
]


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_glm(tmp_path_factory):
    """A random-initialised GlmForCausalLM folder (hidden 64, 2 layers, BPE tokenizer, chat template)."""
    from pipelines.dialogue.tiny_model import build_tiny_glm, chat_log_texts

    return build_tiny_glm(
        tmp_path_factory.mktemp("models") / "tiny-glm", chat_log_texts(DEFAULT_PERSONA / "chat.jsonl")
    )


@pytest.fixture(scope="session")
def trained_log(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "chats.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in TRAINED), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tuned_adapter(tiny_glm, trained_log, tmp_path_factory):
    """The tiny model P-tuned on ``TRAINED`` (peft prefix tuning, output folder of ``finetune``)."""
    from pipelines.dialogue.finetune import FinetuneConfig, finetune

    out = tmp_path_factory.mktemp("ptuning") / "lin"
    cfg = FinetuneConfig(
        data=str(trained_log),
        base=str(tiny_glm),
        out=str(out),
        pre_seq_len=16,
        steps=150,
        lr=0.3,
        batch_size=2,
        save_steps=50,
        seed=1,
    )
    result = finetune(cfg, on_log=lambda text: None)
    assert result.steps_done == 150
    return out


def chat_settings(model_dir, ptuning_dir="", **dialogue):
    from pipelines.settings import Settings

    s = Settings()
    s.dialogue.backend = "chatglm"
    s.dialogue.chatglm.model_dir = str(model_dir)
    s.dialogue.chatglm.ptuning_dir = str(ptuning_dir)
    s.dialogue.chatglm.temperature = 0.0
    s.dialogue.chatglm.max_new_tokens = 80
    s.device = "cpu"
    s.threads = 1
    for key, value in dialogue.items():
        setattr(s.dialogue.chatglm, key, value)
    return s

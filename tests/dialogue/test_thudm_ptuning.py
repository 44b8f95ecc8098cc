"""P-tuning v2 on THUDM-layout ChatGLM folders: loss drops, the trained reply comes back, THUDM's output files."""

import json
import shutil

import pytest
import torch

from pipelines.dialogue.chatglm_stage import ChatGLMDialogue
from pipelines.dialogue.finetune import FinetuneConfig, finetune
from pipelines.messages import UserTurn
from pipelines.persona import Persona
from pipelines.settings import DEFAULT_PERSONA
from pipelines.testing.harness import run_stage
from tests.dialogue.conftest import TRAINED, chat_settings
from tests.dialogue.thudm_layouts import build_chatglm2, build_chatglm6b

LOG = DEFAULT_PERSONA / "chat.jsonl"


def reply(folder, ptuning, prompt):
    stage = ChatGLMDialogue.from_settings(
        chat_settings(folder, ptuning, max_new_tokens=60), Persona.load(DEFAULT_PERSONA)
    )
    stage.load()
    return "".join(c.text for c in run_stage(stage, [UserTurn(1, prompt)])), stage


def train(base, data, out, projection, steps, lr):
    losses = []
    cfg = FinetuneConfig(
        data=str(data),
        base=str(base),
        out=str(out),
        pre_seq_len=16,
        prefix_projection=projection,
        steps=steps,
        lr=lr,
        batch_size=2,
        save_steps=steps,
        seed=1,
    )
    finetune(cfg, on_log=lambda text: None, on_loss=lambda rec: "loss" in rec and losses.append(rec["loss"]))
    return losses


@pytest.mark.parametrize("projection,steps,lr", [(False, 300, 0.5), (True, 500, 0.05)])
def test_chatglm6b_ptuning_writes_thudm_files_and_learns_the_reply(tmp_path, trained_log, projection, steps, lr):
    base = build_chatglm6b(tmp_path / "chatglm-6b", LOG)
    out = tmp_path / "ptuning"
    losses = train(base, trained_log, out, projection, steps, lr)
    assert losses[-1] < 0.2 * losses[0]
    state = torch.load(out / "pytorch_model.bin", weights_only=True)
    want = {"transformer.prefix_encoder.embedding.weight"}
    if projection:
        want |= {f"transformer.prefix_encoder.trans.{i}.{w}" for i in (0, 2) for w in ("weight", "bias")}
    assert set(state) == want  # exactly THUDM's keys, nothing of the base
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["pre_seq_len"] == 16 and cfg["prefix_projection"] is projection and cfg["num_layers"] == 2
    assert all(torch.isfinite(v).all() for v in state.values())
    # a bare THUDM-style checkpoint folder (only THUDM's two files) loads and answers as trained
    bare = tmp_path / "output" / "checkpoint-300"
    bare.mkdir(parents=True)
    for name in ("pytorch_model.bin", "config.json"):
        shutil.copy(out / name, bare / name)
    for row in TRAINED:
        text, stage = reply(base, bare.parent, row["prompt"])
        assert text == row["response"]
    assert stage.loaded.pre_seq_len == 16


def test_fresh_prefix_encoder_holds_real_values(tmp_path):
    from pipelines.dialogue.glm.folder import load_chatglm6b

    base = build_chatglm6b(tmp_path / "chatglm-6b", LOG)
    cfg = json.loads((base / "config.json").read_text())
    model = load_chatglm6b(base, cfg, torch.bfloat16, pre_seq_len=8, prefix_projection=True)
    for name, p in model.transformer.prefix_encoder.named_parameters():
        assert p.dtype == torch.float32 and torch.isfinite(p).all() and p.abs().max() < 1, name
    assert model.transformer.prefix_encoder.embedding.weight.std() > 0.005
    assert model.transformer.word_embeddings.weight.dtype == torch.bfloat16


@pytest.mark.parametrize("v3", [False, True])
def test_chatglm2_and_3_ptuning_learn_the_reply_and_export_thudm_layout(tmp_path, trained_log, v3):
    base = build_chatglm2(tmp_path / "glm", LOG, v3=v3)
    out = tmp_path / "ptuning"
    losses = train(base, trained_log, out, False, 150, 0.3)
    assert losses[-1] < 0.2 * losses[0]
    for row in TRAINED:
        assert reply(base, out, row["prompt"])[0] == row["response"]
    state = torch.load(out / "pytorch_model.bin", weights_only=True)
    assert set(state) == {"transformer.prefix_encoder.embedding.weight"}
    assert state["transformer.prefix_encoder.embedding.weight"].shape == (16, 2 * 2 * 2 * 16)  # layers*2*groups*kv
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(out / "pytorch_model.bin", bare / "pytorch_model.bin")
    shutil.copy(out / "finetune.json", bare / "finetune.json")
    assert reply(base, bare, TRAINED[0]["prompt"])[0] == TRAINED[0]["response"]

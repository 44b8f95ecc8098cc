"""P-tuning the tiny GLM: it learns the persona's replies, resumes exactly, reports bad data."""

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from pipelines.dialogue import finetune_cli
from pipelines.dialogue.chatglm_stage import ChatGLMDialogue
from pipelines.dialogue.finetune import FinetuneConfig, FinetuneError, finetune
from pipelines.messages import UserTurn
from pipelines.persona import Persona
from pipelines.settings import DEFAULT_PERSONA
from pipelines.testing.harness import run_stage
from tests.dialogue.conftest import TRAINED, chat_settings


def replies(model_dir, ptuning_dir=""):
    stage = ChatGLMDialogue.from_settings(chat_settings(model_dir, ptuning_dir), Persona.load(DEFAULT_PERSONA))
    stage.load()
    out = []
    for i, row in enumerate(TRAINED):
        stage.reset()
        out.append("".join(c.text for c in run_stage(stage, [UserTurn(i, row["prompt"])])))
    return out


def test_finetuned_prefix_makes_greedy_generation_reproduce_trained_replies(tiny_glm, tuned_adapter):
    wanted = [row["response"] for row in TRAINED]
    base = replies(tiny_glm)
    assert all(got != want for got, want in zip(base, wanted))
    assert replies(tiny_glm, tuned_adapter) == wanted


def test_output_folder_has_adapter_logs_plot_and_best(tuned_adapter):
    meta = json.loads((tuned_adapter / "finetune.json").read_text(encoding="utf-8"))
    assert meta["steps_done"] == 150 and meta["pre_seq_len"] == 16 and meta["prompt_format"] == "template"
    assert (tuned_adapter / "adapter_config.json").is_file() and (
        tuned_adapter / "best" / "adapter_config.json"
    ).is_file()
    records = [json.loads(l) for l in (tuned_adapter / "loss.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == list(range(1, 151))
    first, last = records[0]["loss"], sum(r["loss"] for r in records[-10:]) / 10
    assert last < first  # it learned something
    assert (tuned_adapter / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ckpts = sorted(p.name for p in tuned_adapter.iterdir() if p.name.startswith("checkpoint-"))
    assert ckpts == ["checkpoint-100", "checkpoint-150"]  # the newest two kept
    assert not [p for p in tuned_adapter.iterdir() if p.name.startswith(".")]  # no temp leftovers


def _cfg(tiny_glm, out, **kw):
    base = dict(
        data=str(DEFAULT_PERSONA / "chat.jsonl"),
        base=str(tiny_glm),
        out=str(out),
        pre_seq_len=4,
        prefix_projection=True,
        projection_hidden=16,
        steps=12,
        lr=0.05,
        batch_size=16,
        grad_accum=2,
        save_steps=5,
        seed=3,
        max_source_length=48,
        max_target_length=24,
    )
    base.update(kw)
    return FinetuneConfig(**base)


class Killed(Exception):
    pass


def test_resume_after_kill_continues_from_the_checkpoint_step(tiny_glm, tmp_path):
    straight = finetune(_cfg(tiny_glm, tmp_path / "straight"), on_log=lambda t: None)

    def kill_at_8(p):
        if p.step == 8:
            raise Killed()  # like a kill: nothing saved after checkpoint-5

    with pytest.raises(Killed):
        finetune(_cfg(tiny_glm, tmp_path / "run"), on_progress=kill_at_8, on_log=lambda t: None)
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-5"]
    with pytest.raises(FinetuneError, match="--resume"):
        finetune(_cfg(tiny_glm, tmp_path / "run"), on_log=lambda t: None)

    seen = []
    resumed = finetune(
        _cfg(tiny_glm, tmp_path / "run", resume=True), on_progress=lambda p: seen.append(p.step), on_log=lambda t: None
    )
    assert resumed.start_step == 5 and seen[0] == 6 and resumed.steps_done == 12
    log = [json.loads(l) for l in (tmp_path / "run" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 13))
    ref = [json.loads(l) for l in (tmp_path / "straight" / "loss.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in ref], rel=1e-5)
    a = load_file(str(tmp_path / "straight" / "checkpoint-12" / "trainable.safetensors"))
    b = load_file(str(tmp_path / "run" / "checkpoint-12" / "trainable.safetensors"))
    assert a.keys() == b.keys() and any("transform" in k for k in a)  # projection MLP is resumed too
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert straight.steps_done == 12


def test_cancel_saves_a_resumable_checkpoint(tiny_glm, tmp_path):
    stop = threading.Event()
    result = finetune(
        _cfg(tiny_glm, tmp_path / "c", steps=20),
        on_progress=lambda p: stop.set() if p.step == 3 else None,
        should_stop=stop,
        on_log=lambda t: None,
    )
    assert result.cancelled and result.steps_done == 3
    assert (tmp_path / "c" / "checkpoint-3" / "trainable.safetensors").is_file()
    assert json.loads((tmp_path / "c" / "finetune.json").read_text())["cancelled"] is True


def test_bad_lines_are_reported_with_line_numbers_before_training(tiny_glm, tmp_path, capsys):
    data = tmp_path / "chats.json"
    data.write_text(
        "\n".join(
            [
                json.dumps({"prompt": "你好", "response": "你好呀！"}, ensure_ascii=False),
                json.dumps({"prompt": "谢谢", "response": "不客气！"}, ensure_ascii=False),
                '{"prompt": "oops"',
                json.dumps({"prompt": "hi", "reply": "hello"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    assert (
        finetune_cli.main(["--data", str(data), "--base", str(tiny_glm), "--out", str(tmp_path / "x"), "--check-data"])
        == 1
    )
    out = capsys.readouterr().out
    assert "2 example(s) kept" in out and "2 skipped" in out
    assert "line 3: invalid JSON" in out and "line 4: no 'response' field" in out

    code = finetune_cli.main(
        [
            "--data",
            str(data),
            "--base",
            str(tiny_glm),
            "--out",
            str(tmp_path / "x"),
            "--steps",
            "2",
            "--pre-seq-len",
            "4",
            "--save-steps",
            "2",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    err = captured.err
    assert err.index("line 3: invalid JSON") < err.index("training 2 example(s)")
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["kept"] == 2 and summary["skipped"] == 2 and summary["steps"] == 2

    bad = tmp_path / "bad.json"
    bad.write_text('{"q": 1}\n', encoding="utf-8")
    assert finetune_cli.main(["--data", str(bad), "--base", str(tiny_glm), "--out", str(tmp_path / "y")]) == 2
    assert "line 1: no 'prompt' field" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()

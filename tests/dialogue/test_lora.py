"""finetune --method lora: a peft LoRA adapter folder (what vLLM / llama.cpp serve) that the chatglm backend loads."""

import json

from safetensors.torch import load_file

from pipelines.dialogue import finetune_cli
from pipelines.dialogue.finetune import FinetuneConfig, finetune
from tests.dialogue.test_finetune import replies


def test_lora_adapter_learns_the_replies_and_is_a_plain_peft_folder(tiny_glm, trained_log, tmp_path):
    out = tmp_path / "lora"
    cfg = FinetuneConfig(
        data=str(trained_log),
        base=str(tiny_glm),
        out=str(out),
        method="lora",
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        steps=120,
        lr=1e-2,
        batch_size=2,
        save_steps=60,
        seed=1,
    )
    result = finetune(cfg, on_log=lambda text: None)
    assert result.steps_done == 120
    records = [json.loads(l) for l in (out / "loss.jsonl").read_text().splitlines() if '"loss"' in l]
    assert sum(r["loss"] for r in records[-10:]) / 10 < records[0]["loss"] - 0.8  # measured 6.94 -> 5.7
    acfg = json.loads((out / "adapter_config.json").read_text())
    assert acfg["peft_type"] == "LORA" and acfg["r"] == 8 and acfg["lora_alpha"] == 16
    assert set(acfg["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    keys = list(load_file(str(out / "adapter_model.safetensors")))
    assert keys and all(".lora_A." in k or ".lora_B." in k for k in keys)  # only the LoRA matrices
    assert not (out / "pytorch_model.bin").exists()  # no P-tuning files
    # the chatglm backend applies it: greedy replies change (a 2-layer, 64-wide random model moves too
    # little under attention-only LoRA to reproduce whole replies; P-tuning's test shows that)
    base, tuned = replies(tiny_glm), replies(tiny_glm, out)
    assert tuned != base and all(t.strip() for t in tuned)


def test_lora_cli_refuses_unknown_targets_in_one_line(tiny_glm, trained_log, tmp_path, capsys):
    rc = finetune_cli.main(
        [
            "--data",
            str(trained_log),
            "--base",
            str(tiny_glm),
            "--out",
            str(tmp_path / "x"),
            "--method",
            "lora",
            "--lora-targets",
            "nope_proj",
            "--steps",
            "1",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("error: ") and "nope_proj" in err[-1] and "--lora-targets" in err[-1]


def test_lora_adapter_for_another_base_is_refused_in_one_line(tiny_glm, trained_log, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    from pipelines.dialogue.ptuning_checkpoint import PtuningError
    from pipelines.dialogue.tiny_model import build_tiny_glm, chat_log_texts
    from pipelines.settings import DEFAULT_PERSONA
    from tests.dialogue.test_prompt_cache import stage_for

    out = tmp_path / "lora-a"
    cfg = FinetuneConfig(
        data=str(trained_log), base=str(tiny_glm), out=str(out), method="lora", steps=2, batch_size=1, save_steps=2
    )
    finetune(cfg, on_log=lambda text: None)
    texts = chat_log_texts(DEFAULT_PERSONA / "chat.jsonl")
    wider = build_tiny_glm(tmp_path / "wider", texts, hidden_size=96)
    deeper = build_tiny_glm(tmp_path / "deeper", texts, num_layers=3)
    for base, why in ((wider, "maps 64 -> 32 features, this model's maps 96 -> 48"), (deeper, "covers 2 layers")):
        with pytest.raises(PtuningError) as err:
            stage_for(base, out)
        line = str(err.value)
        assert "\n" not in line and "made for another base model" in line and why in line
        assert str(tiny_glm) in line and "dialogue.chatglm.model_dir" in line
    stage_for(tiny_glm, out)  # its own base loads it

    r = subprocess.run(
        [sys.executable, "main_demo.py", "--text", "你好", "--output_dir", str(tmp_path / "o")]
        + [
            "--dialogue.backend",
            "chatglm",
            "--dialogue.chatglm.model_dir",
            str(wider),
            "--dialogue.chatglm.ptuning_dir",
            str(out),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    err_lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "made for another base model" in err_lines[-1] and err_lines[-1].startswith("error: ")

"""dialogue.chatglm.quantize int4 / int8: weight-only CPU quantisation agrees with fp32 within the stated tolerance."""

import pytest
import torch
import torch.nn.functional as F

from pipelines.dialogue.model_loader import ModelLoadError
from pipelines.dialogue.quantize import Int4Linear, group_size
from pipelines.messages import UserTurn
from pipelines.stage import TurnContext
from tests.dialogue.test_prompt_cache import stage_for, thudm  # noqa: F401  (module fixture)


@pytest.mark.parametrize("kernel", ["torch", "auto"])
def test_int4_linear_is_the_grouped_4bit_weight_times_x(kernel):
    torch.manual_seed(0)
    lin = torch.nn.Linear(256, 40)  # 40 outputs: torch's kernel pads to 48 inside, sliced back
    with torch.no_grad():
        lin.weight.normal_(0, 0.02)
    q = Int4Linear(lin.weight, lin.bias, group_size(256), kernel=kernel)
    assert q.group == 32 and group_size(4096) == 128 and group_size(13696) == 128 and group_size(100) is None
    assert q.kernel.name == ("torch-int4pack" if kernel == "torch" else "ort-matmulnbits")
    x = torch.randn(3, 5, 256)
    w = lin.weight.detach().reshape(40, 8, 32)  # written out here: w = (q - zp) * scale per group of 32
    lo, hi = w.amin(-1, keepdim=True).clamp(max=0), w.amax(-1, keepdim=True).clamp(min=0)
    scale = (hi - lo) / 15
    zp = torch.round(-lo / scale)
    deq = ((torch.round(w / scale + zp).clamp(0, 15) - zp) * scale).reshape(40, 256)
    ref = x @ deq.t() + lin.bias
    y = q(x)
    assert y.shape == (3, 5, 40) and y.dtype == torch.float32
    assert ((y - ref).norm() / ref.norm()) < 0.01  # the kernel computes exactly that (bf16 / int8 activations aside)
    assert 0.01 < ((y - lin(x)).norm() / lin(x).norm()) < 0.12  # and 4 bits cost a few per cent


def test_both_int4_kernels_multiply_by_the_same_weights():
    from pipelines.dialogue.int4_kernels import dequantize, quantize_groups

    torch.manual_seed(2)
    w = torch.randn(64, 512) * 0.05
    q, scale, zp = quantize_groups(w, 128)
    assert int(q.max()) <= 15 and int(zp.max()) <= 15 and q.dtype == torch.uint8
    deq = dequantize(q, scale, zp, 128)
    assert ((deq - w).abs() <= scale.repeat_interleave(128, 1) / 2 + 1e-7).all()  # rounding: half a step at most
    lin = torch.nn.Linear(512, 64, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    x = torch.randn(7, 512)
    ref = x @ deq.t()
    a = Int4Linear(lin.weight, None, 128, kernel="torch")(x)
    b = Int4Linear(lin.weight, None, 128, kernel="auto")(x)
    assert (a - ref).norm() / ref.norm() < 0.01 and (b - ref).norm() / ref.norm() < 0.01
    assert (a - b).norm() / ref.norm() < 0.015


def greedy_agreement(fp, q, prompt, steps=20):
    ids = fp.encode_prompt(prompt)
    same = in_top5 = 0
    cos = []
    with torch.no_grad():
        for _ in range(steps):  # teacher-forced on fp32's greedy tokens
            a = fp.loaded.model(ids)[0][0, -1].float()
            b = q.loaded.model(ids)[0][0, -1].float()
            cos.append(float(F.cosine_similarity(a, b, dim=0)))
            tok = int(a.argmax())
            same += int(b.argmax()) == tok
            in_top5 += tok in b.topk(5).indices.tolist()
            ids = torch.cat((ids, torch.tensor([[tok]])), 1)
    return same, in_top5, min(cos)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_int4_greedy_agrees_with_fp32_on_the_tiny_glm(tiny_glm, dtype):
    fp = stage_for(tiny_glm)
    q4 = stage_for(tiny_glm, quantize="int4", dtype=dtype)
    assert q4.loaded.quantization == "int4" and "int4" in q4.loaded.describe()
    mods = list(q4.loaded.model.modules())
    assert not any(type(m) is torch.nn.Linear for m in mods)  # every Linear, the output layer too
    assert sum(isinstance(m, Int4Linear) for m in mods) == 2 * 4 + 2 * 2 + 1  # q k v o, gate_up down, lm_head
    same, top5, cos = greedy_agreement(fp, q4, "你好，介绍一下你自己")
    # tolerance (measured 17-18 / 20, 20 / 20, 0.992-0.995): 15 of 20 greedy tokens the same,
    # fp32's token always in int4's top 5, logits' cosine >= 0.98
    assert same >= 15 and top5 == 20 and cos >= 0.98
    chunks = list(q4.process(UserTurn(1, "你好"), TurnContext(1)))
    assert q4.last_stats.new_tokens >= 1 and all(c.mode == "llm" for c in chunks)


@pytest.mark.parametrize("gen", ["chatglm6b", "chatglm2"])
def test_int4_thudm_layers_quantised_while_loading(thudm, gen):  # noqa: F811
    q4 = stage_for(thudm[gen], quantize="int4")
    model = q4.loaded.model
    layer = [m for n, m in model.named_modules() if ".layers." in n or n == "lm_head"]
    assert any(isinstance(m, Int4Linear) for m in layer) and not any(type(m) is torch.nn.Linear for m in layer)
    ctx = TurnContext(1)
    list(q4.process(UserTurn(1, "你好"), ctx))
    assert ctx.info["dialogue_tokens"] >= 1


def test_quantize_settings_errors_are_one_clear_line(tiny_glm):
    with pytest.raises(ModelLoadError, match="quantize int8 works with dtype fp32"):
        stage_for(tiny_glm, quantize="int8", dtype="bf16")
    with pytest.raises(ModelLoadError, match="must be one of none, int8, int4"):
        stage_for(tiny_glm, quantize="int3")
    legacy = stage_for(tiny_glm, quantize_int8=True)  # the older switch still means int8
    assert legacy.loaded.quantization == "int8"


def test_int4_int8_decodes_with_int4_and_runs_prompts_through_int8(tiny_glm):
    from pipelines.dialogue.quantize import PREFILL_ROWS, quantize_linear

    torch.manual_seed(1)
    lin = torch.nn.Linear(128, 64)
    both = quantize_linear(lin, "int4+int8")
    only4, only8 = quantize_linear(lin, "int4"), quantize_linear(lin, "int8")
    one, many = torch.randn(1, 1, 128), torch.randn(1, PREFILL_ROWS + 3, 128)
    assert torch.equal(both(one), only4(one)) and not torch.equal(both(one), only8(one))
    assert torch.equal(both(many), only8(many)) and not torch.equal(both(many), only4(many))
    stage = stage_for(tiny_glm, quantize="int4+int8")
    assert stage.loaded.quantization == "int4+int8"
    same, top5, cos = greedy_agreement(stage_for(tiny_glm), stage, "你好，介绍一下你自己")
    # teacher forcing runs whole sequences (the int8 path); the stage's turn below decodes through int4
    assert same >= 15 and top5 == 20 and cos >= 0.98
    list(stage.process(UserTurn(1, "你好"), TurnContext(1)))
    assert stage.last_stats.new_tokens >= 1


def test_lora_adapter_stays_float_over_int4_base_layers(tiny_glm, trained_log, tmp_path):
    from pipelines.dialogue.finetune import FinetuneConfig, finetune

    out = tmp_path / "lora"
    cfg = FinetuneConfig(
        data=str(trained_log), base=str(tiny_glm), out=str(out), method="lora", steps=2, batch_size=1, save_steps=2
    )
    finetune(cfg, on_log=lambda text: None)
    stage = stage_for(tiny_glm, out, quantize="int4")
    named = dict(stage.loaded.model.named_modules())
    loras = [n for n, m in named.items() if ".lora_A." in n + "." and type(m) is torch.nn.Linear]
    assert loras and all(isinstance(named[n.rsplit(".lora_A", 1)[0] + ".base_layer"], Int4Linear) for n in loras)
    list(stage.process(UserTurn(1, "你好"), TurnContext(1)))
    assert stage.last_stats.new_tokens >= 1

"""THUDM / DL-B P-tuning v2 checkpoints load onto a GLM model exactly as ChatGLM applies them."""

import json
import shutil

import pytest
import torch

from pipelines.dialogue import ptuning_checkpoint as pt
from pipelines.dialogue.model_loader import ModelLoadError, load_base, load_for_chat
from tests.dialogue.conftest import chat_settings

PRE = 8


def thudm_state(cfg, projection=False, pre_seq_len=PRE, seed=0):
    layers, kv_heads, head_dim = pt.kv_width(cfg)
    width = layers * 2 * kv_heads * head_dim
    g = torch.Generator().manual_seed(seed)
    key = "transformer.prefix_encoder."
    if not projection:
        return {key + "embedding.weight": torch.randn(pre_seq_len, width, generator=g)}
    hidden = 32
    return {
        key + "embedding.weight": torch.randn(pre_seq_len, hidden, generator=g),
        key + "trans.0.weight": torch.randn(hidden, hidden, generator=g) * 0.3,
        key + "trans.0.bias": torch.randn(hidden, generator=g) * 0.1,
        key + "trans.2.weight": torch.randn(width, hidden, generator=g) * 0.3,
        key + "trans.2.bias": torch.randn(width, generator=g) * 0.1,
    }


def thudm_reference_logits(model, state, ids, projection):
    """Logits with the prefix applied by hand the way THUDM's ChatGLM get_prompt() does it."""
    from transformers import DynamicCache

    layers, kv_heads, head_dim = pt.kv_width(model.config)
    k = "transformer.prefix_encoder."
    emb = state[k + "embedding.weight"]
    if projection:
        emb = torch.tanh(emb @ state[k + "trans.0.weight"].T + state[k + "trans.0.bias"])
        emb = emb @ state[k + "trans.2.weight"].T + state[k + "trans.2.bias"]
    pre = emb.shape[0]
    pkv = emb.unsqueeze(0).view(1, pre, layers * 2, kv_heads, head_dim)
    pkv = pkv.permute([2, 1, 0, 3, 4]).split(2)  # THUDM: per layer (2, T, B, heads, dim)
    cache = DynamicCache(config=model.config)
    for i, kv in enumerate(pkv):
        key, value = kv[0].permute(1, 2, 0, 3), kv[1].permute(1, 2, 0, 3)  # -> (B, heads, T, dim)
        cache.update(key, value, i)
    mask = torch.ones(1, pre + ids.shape[1], dtype=torch.long)
    pos = torch.arange(pre, pre + ids.shape[1]).unsqueeze(0)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, past_key_values=cache, position_ids=pos).logits


@pytest.mark.parametrize("projection", [False, True])
def test_thudm_layout_checkpoint_loads_and_matches_chatglm_prefix(tiny_glm, tmp_path, projection):
    base, tok, _, _ = load_base(tiny_glm)
    state = thudm_state(base.config, projection)
    ckpt_dir = tmp_path / "output" / "adgen-chatglm-6b-pt-8-2e-2" / "checkpoint-3000"
    ckpt_dir.mkdir(parents=True)
    torch.save(state, ckpt_dir / "pytorch_model.bin")  # THUDM's file name and key layout
    loaded = load_for_chat(
        chat_settings(tiny_glm).dialogue.chatglm, tiny_glm, ckpt_dir.parent
    )  # newest checkpoint found
    assert loaded.adapter.kind == "thudm" and loaded.pre_seq_len == PRE
    ids = torch.tensor([tok("你好，介绍一下你自己", add_special_tokens=False).input_ids])
    with torch.no_grad():
        got = loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    want = thudm_reference_logits(base, state, ids, projection)
    plain = base(input_ids=ids).logits
    assert not torch.allclose(want, plain, atol=1e-4)  # the prefix does change the output
    assert torch.allclose(got, want, atol=1e-5)


def test_wrong_pre_seq_len_is_refused_clearly(tiny_glm, tmp_path):
    base, _, _, _ = load_base(tiny_glm)
    torch.save(thudm_state(base.config), tmp_path / "pytorch_model.bin")
    settings = chat_settings(tiny_glm, tmp_path, pre_seq_len=64)
    with pytest.raises(pt.PtuningError) as err:
        load_for_chat(settings.dialogue.chatglm, tiny_glm, tmp_path)
    msg = str(err.value)
    assert f"pre_seq_len={PRE}" in msg and "pre_seq_len=64" in msg and "dialogue.chatglm.pre_seq_len" in msg
    # the same when the model folder's config.json says so (THUDM folders carry pre_seq_len there)
    folder = tmp_path / "model"
    shutil.copytree(tiny_glm, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["pre_seq_len"] = 128
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(pt.PtuningError, match=r"pre_seq_len=8[\s\S]*config.json[\s\S]*pre_seq_len=128"):
        load_for_chat(chat_settings(folder).dialogue.chatglm, folder, tmp_path)


def test_checkpoint_for_another_model_is_refused(tiny_glm, tmp_path):
    torch.save({"transformer.prefix_encoder.embedding.weight": torch.zeros(PRE, 4096)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(pt.PtuningError, match="4096 numbers per virtual token.*needs 2 layers"):
        load_for_chat(chat_settings(tiny_glm).dialogue.chatglm, tiny_glm, tmp_path)
    torch.save({"encoder.weight": torch.zeros(2, 2)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(pt.PtuningError, match="not a P-tuning v2 checkpoint.*encoder.weight"):
        load_for_chat(chat_settings(tiny_glm).dialogue.chatglm, tiny_glm, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(pt.PtuningError, match="holds no P-tuning"):
        pt.locate(tmp_path / "empty")
    with pytest.raises(pt.PtuningError, match="does not exist"):
        pt.locate(tmp_path / "missing")


def test_model_folder_problems_are_clear(tiny_glm, tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_base(tmp_path / "nope")
    folder = tmp_path / "remote"
    shutil.copytree(tiny_glm, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(model_type="chatglm", auto_map={"AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration"})
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="trust_remote_code"):
        load_base(folder)


def test_peft_lora_adapter_folder_loads(tiny_glm, tmp_path):
    from peft import LoraConfig, get_peft_model

    base, tok, _, _ = load_base(tiny_glm)
    torch.manual_seed(0)
    with pt.quiet_peft():
        lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "lora")
    ids = torch.tensor([tok("Who are you?", add_special_tokens=False).input_ids])
    with torch.no_grad():
        want = lora(input_ids=ids).logits
    loaded = load_for_chat(chat_settings(tiny_glm).dialogue.chatglm, tiny_glm, tmp_path / "lora")
    assert loaded.adapter.kind == "peft"
    with torch.no_grad():
        got = loaded.model(input_ids=ids).logits
        fresh, _, _, _ = load_base(tiny_glm)
        plain = fresh(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, plain, atol=1e-4)

"""THUDM ChatGLM-6B / ChatGLM2 / ChatGLM3 folders (THUDM's exact layouts) load and chat without remote code."""

import json
import math
import shutil

import pytest
import torch
import torch.nn.functional as F

from pipelines.dialogue.chatglm_stage import ChatGLMDialogue
from pipelines.dialogue.model_loader import ModelLoadError
from pipelines.messages import TextChunk, UserTurn
from pipelines.persona import Persona
from pipelines.settings import DEFAULT_PERSONA
from pipelines.stage import TurnContext
from tests.dialogue.conftest import chat_settings
from tests.dialogue.thudm_layouts import build_chatglm2, build_chatglm6b

LOG = DEFAULT_PERSONA / "chat.jsonl"


@pytest.fixture(scope="session")
def thudm_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("thudm")
    return {
        "chatglm6b": build_chatglm6b(root / "chatglm-6b", LOG),
        "chatglm2": build_chatglm2(root / "chatglm2-6b", LOG),
        "chatglm3": build_chatglm2(root / "chatglm3-6b", LOG, v3=True),
    }


def make_stage(folder, ptuning="", **dialogue):
    dialogue.setdefault("max_new_tokens", 12)
    stage = ChatGLMDialogue.from_settings(chat_settings(folder, ptuning, **dialogue), Persona.load(DEFAULT_PERSONA))
    stage.load()
    return stage


@pytest.mark.parametrize("gen,fmt", [("chatglm6b", "chatglm"), ("chatglm2", "chatglm2"), ("chatglm3", "chatglm3")])
def test_each_generation_loads_natively_and_streams_a_turn(thudm_folders, gen, fmt):
    folder = thudm_folders[gen]
    assert "auto_map" in json.loads((folder / "config.json").read_text())
    stage = make_stage(folder, dtype="bf16")  # the remote .py stand-ins raise if anything imports them
    loaded = stage.loaded
    assert not loaded.remote_code and loaded.generation == gen and stage.format.kind == fmt
    assert all(p.dtype == torch.bfloat16 for n, p in loaded.model.named_parameters())
    ctx = TurnContext(1)
    chunks = list(stage.process(UserTurn(1, "你好，介绍一下你自己"), ctx))
    assert all(isinstance(c, TextChunk) and c.mode == "llm" for c in chunks)
    assert ctx.info["dialogue_tokens"] == stage.last_stats.new_tokens >= 1
    assert len(stage.history) == 1


def test_prompts_are_thudm_ids(thudm_folders):
    v1 = make_stage(thudm_folders["chatglm6b"])
    tok = v1.loaded.tokenizer
    v1.history.add("你好", "你好呀")
    ids = v1.encode_prompt("再见")[0].tolist()
    assert ids[-2:] == [tok.gmask_token_id, tok.bos_token_id]
    assert tok.decode(ids[:-2]) == "[Round 0]\n问：你好\n答：你好呀\n[Round 1]\n问：再见\n答："
    assert tok.gmask_token_id == json.loads((thudm_folders["chatglm6b"] / "config.json").read_text())["gmask_token_id"]
    assert tok.gmask_token_id - tok.sp.PieceToId("[gMASK]") == 20000  # the image-token offset

    v2 = make_stage(thudm_folders["chatglm2"])
    tok2 = v2.loaded.tokenizer
    v2.history.add("你好", "你好呀")
    ids = v2.encode_prompt("再见")[0].tolist()
    assert ids[:2] == [tok2.n_words + 1, tok2.n_words + 3]  # [gMASK] sop
    assert tok2.decode(ids[2:]) == "[Round 1]\n\n问：你好\n\n答：你好呀\n\n[Round 2]\n\n问：再见\n\n答："

    v3 = make_stage(thudm_folders["chatglm3"])
    tok3 = v3.loaded.tokenizer
    v3.history.add("你好", "你好呀")
    ids = v3.encode_prompt("再见")[0].tolist()
    roles = [i for i in ids if i >= tok3.n_words]
    names = [tok3.index_special[i] for i in roles]
    assert names == ["[gMASK]", "sop", "<|system|>", "<|user|>", "<|assistant|>", "<|user|>", "<|assistant|>"]
    assert ids[-1] == tok3.get_command("<|assistant|>")
    user = ids.index(tok3.get_command("<|user|>"))
    assert ids[user + 1 : user + 1 + len(tok3.encode("\n", False))] == tok3.encode("\n", False)
    assert tok3.get_command("<|user|>") not in tok3.encode("<|user|>", False)  # typed text cannot make a role
    assert set(v3.eos_token_ids()) == {
        tok3.eos_token_id,
        tok3.get_command("<|user|>"),
        tok3.get_command("<|observation|>"),
    }


def test_cached_greedy_equals_uncached(thudm_folders):
    for gen in ("chatglm6b", "chatglm2"):
        stage = make_stage(thudm_folders[gen])
        ids = stage.encode_prompt("你好，介绍一下你自己")
        model = stage.loaded.model
        kw = {"max_new_tokens": 16, "do_sample": False, "eos_token_id": [-1], "pad_token_id": 0}
        if gen == "chatglm2":
            kw.update(attention_mask=torch.ones_like(ids), temperature=None, top_p=None, top_k=None)
        with torch.no_grad():
            cached = model.generate(ids, use_cache=True, **kw)
            uncached = model.generate(ids, use_cache=False, **kw)
        assert cached.shape[1] == ids.shape[1] + 16
        assert cached.tolist() == uncached.tolist()


# -- ChatGLM-6B against a reference written from THUDM's modeling_chatglm.py ----
def thudm_reference_logits(state, cfg, ids):
    """Seq-first forward as THUDM's code does it (fp32): fused per-head QKV, 2-D rotary by F.embedding lookup,
    baddbmm scores scaled by 1/(sqrt(hn)*coeff), -10000 fill, *coeff softmax, alpha residuals, tanh GELU."""
    g = {k: v.float() for k, v in state.items()}
    h, nh, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_layers"]
    hn = h // nh
    seq = ids
    ctx, mpos = seq.index(cfg["bos_token_id"]), seq.index(cfg["gmask_token_id"])
    s = len(seq)
    mask = torch.ones(1, s, s).tril_()
    mask[..., :ctx] = 1
    mask = mask.unsqueeze(1) < 0.5
    pos = torch.arange(s)
    pos[ctx:] = mpos
    block = torch.cat((torch.zeros(ctx, dtype=torch.long), torch.arange(s - ctx) + 1))
    dim = hn // 2
    inv = (1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))).half().float()
    t = torch.arange(int(max(pos.max(), block.max())) + 1).float()
    emb = torch.cat((torch.einsum("i,j->ij", t, inv),) * 2, -1)
    cos, sin = emb.cos(), emb.sin()

    def rot(x, p):  # x [s, b, np, hn/2]
        c, sn = F.embedding(p[:, None], cos).unsqueeze(2), F.embedding(p[:, None], sin).unsqueeze(2)
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
        return x * c + torch.cat((-x2, x1), -1) * sn

    x = F.embedding(torch.tensor(seq)[:, None], g["transformer.word_embeddings.weight"])  # [s, 1, h]
    alpha = (2 * L) ** 0.5
    for i in range(L):
        p = f"transformer.layers.{i}."
        ln = F.layer_norm(x, (h,), g[p + "input_layernorm.weight"], g[p + "input_layernorm.bias"], 1e-5)
        mixed = F.linear(ln, g[p + "attention.query_key_value.weight"], g[p + "attention.query_key_value.bias"])
        q, k, v = mixed.view(s, 1, nh, 3 * hn).split(hn, dim=-1)
        q1, q2 = q.chunk(2, -1)
        k1, k2 = k.chunk(2, -1)
        q = torch.cat([rot(q1, pos), rot(q2, block)], -1)
        k = torch.cat([rot(k1, pos), rot(k2, block)], -1)
        coeff = float(i + 1)
        q = q / (math.sqrt(hn) * coeff)
        scores = torch.baddbmm(
            torch.empty(nh, s, s),
            q.view(s, nh, hn).transpose(0, 1),
            k.view(s, nh, hn).transpose(0, 1).transpose(1, 2),
            beta=0.0,
            alpha=1.0,
        )
        scores = scores.view(1, nh, s, s).masked_fill(mask, -10000.0) * coeff
        probs = F.softmax(scores, dim=-1).view(nh, s, s)
        c = torch.bmm(probs, v.view(s, nh, hn).transpose(0, 1)).view(1, nh, s, hn).permute(2, 0, 1, 3)
        attn = F.linear(c.reshape(s, 1, h), g[p + "attention.dense.weight"], g[p + "attention.dense.bias"])
        hs = ln * alpha + attn
        ln2 = F.layer_norm(
            hs, (h,), g[p + "post_attention_layernorm.weight"], g[p + "post_attention_layernorm.bias"], 1e-5
        )
        m = F.linear(ln2, g[p + "mlp.dense_h_to_4h.weight"], g[p + "mlp.dense_h_to_4h.bias"])
        m = 0.5 * m * (1.0 + torch.tanh(0.7978845608028654 * m * (1.0 + 0.044715 * m * m)))
        x = ln2 * alpha + F.linear(m, g[p + "mlp.dense_4h_to_h.weight"], g[p + "mlp.dense_4h_to_h.bias"])
    x = F.layer_norm(x, (h,), g["transformer.final_layernorm.weight"], g["transformer.final_layernorm.bias"], 1e-5)
    return F.linear(x, g["lm_head.weight"]).permute(1, 0, 2)


def test_chatglm6b_logits_match_thudm_reference(thudm_folders):
    folder = thudm_folders["chatglm6b"]
    cfg = json.loads((folder / "config.json").read_text())
    state = {}
    for f in sorted(folder.glob("pytorch_model-*.bin")):
        state.update(torch.load(f, weights_only=True))
    stage = make_stage(folder)
    ids = stage.encode_prompt("你好，介绍一下你自己")[0].tolist() + [stage.loaded.tokenizer.specials["[MASK]"] + 7]
    ours, _, _ = stage.loaded.model(torch.tensor([ids]))
    ref = thudm_reference_logits(state, cfg, ids)
    assert torch.allclose(ours, ref, atol=2e-4, rtol=1e-4), (ours - ref).abs().max()


def test_chatglm3_stops_at_user_token(thudm_folders):
    stage = make_stage(thudm_folders["chatglm3"], max_new_tokens=30)
    tok, model = stage.loaded.tokenizer, stage.loaded.model
    ids = stage.encode_prompt("你好")
    word = tok.encode("你好", False)[-1]
    user = tok.get_command("<|user|>")
    with torch.no_grad():  # unit-norm RMSNorm outputs h1 (prompt end), h2 (after `word`)
        hs = model.model(torch.cat([ids, torch.tensor([[word]])], 1)).last_hidden_state[0]
        h1, h2 = hs[-2].clone(), hs[-1]
        w = torch.zeros_like(model.lm_head.weight)
        w[word], w[user] = h1 - h2, h2 - h1  # step 1 picks `word`, step 2 picks <|user|>
        model.lm_head.weight.copy_(w)
    ctx = TurnContext(1)
    text = "".join(c.text for c in stage.process(UserTurn(1, "你好"), ctx))
    assert stage.last_stats.new_tokens == 2 and not stage.last_stats.stopped_early
    assert text == tok.decode([word]).strip() and "<|user|>" not in text


# -- P-tuning checkpoints in THUDM's layout, and errors ------------------------
def write_prefix(path, cfg, pre_seq_len, projection, layers=None, seed=3):
    g = torch.Generator().manual_seed(seed)
    h, L = cfg["hidden_size"], layers or cfg["num_layers"]
    width = L * h * 2
    if projection:
        state = {
            "transformer.prefix_encoder.embedding.weight": torch.randn(pre_seq_len, h, generator=g),
            "transformer.prefix_encoder.trans.0.weight": torch.randn(h, h, generator=g) * 0.1,
            "transformer.prefix_encoder.trans.0.bias": torch.zeros(h),
            "transformer.prefix_encoder.trans.2.weight": torch.randn(width, h, generator=g) * 0.1,
            "transformer.prefix_encoder.trans.2.bias": torch.zeros(width),
        }
    else:
        state = {"transformer.prefix_encoder.embedding.weight": torch.randn(pre_seq_len, width, generator=g)}
    path.mkdir(parents=True, exist_ok=True)
    torch.save(state, path / "pytorch_model.bin")
    return state


@pytest.mark.parametrize("projection", [False, True])
def test_thudm_prefix_checkpoint_loads_into_chatglm6b(thudm_folders, tmp_path, projection):
    folder = thudm_folders["chatglm6b"]
    cfg = json.loads((folder / "config.json").read_text())
    state = write_prefix(tmp_path / "checkpoint-100", cfg, 8, projection)
    stage = make_stage(folder, tmp_path)
    model = stage.loaded.model
    assert stage.loaded.pre_seq_len == 8
    got = {"transformer.prefix_encoder." + k: v for k, v in model.transformer.prefix_encoder.state_dict().items()}
    assert got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)
    ids = stage.encode_prompt("你好")
    plain = make_stage(folder).loaded.model
    with torch.no_grad():
        assert not torch.allclose(model(ids)[0], plain(ids)[0])  # the prefix is used
        kw = {"max_new_tokens": 10, "eos_token_id": [-1]}
        assert model.generate(ids, use_cache=True, **kw).tolist() == model.generate(ids, use_cache=False, **kw).tolist()


def test_errors_are_one_line(thudm_folders, tmp_path):
    cfg = json.loads((thudm_folders["chatglm6b"] / "config.json").read_text())
    broken = tmp_path / "no-shard"
    shutil.copytree(thudm_folders["chatglm6b"], broken)
    (broken / "pytorch_model-00002-of-00002.bin").unlink()
    with pytest.raises(ModelLoadError, match=r"1 of 2 weight shards are missing \(pytorch_model-00002-of-00002.bin\)"):
        make_stage(broken)

    wrong_tok = tmp_path / "wrong-tokenizer"
    shutil.copytree(thudm_folders["chatglm2"], wrong_tok)
    c2 = json.loads((wrong_tok / "config.json").read_text())
    c2["padded_vocab_size"] = 512
    (wrong_tok / "config.json").write_text(json.dumps(c2))
    with pytest.raises(ModelLoadError, match=r"tokenizer.model has 1005 tokens but the model's vocabulary is 512"):
        make_stage(wrong_tok)

    write_prefix(tmp_path / "p16", cfg, 16, False)
    with pytest.raises(ValueError, match="pre_seq_len=16.*asks for pre_seq_len=8"):
        make_stage(thudm_folders["chatglm6b"], tmp_path / "p16", pre_seq_len=8)
    write_prefix(tmp_path / "deep", cfg, 8, False, layers=4)
    with pytest.raises(ValueError, match="needs 2 layers x 2 x 64 = 256"):
        make_stage(thudm_folders["chatglm6b"], tmp_path / "deep")


# -- ChatGLM2/3 on transformers' GLM against a reference written from THUDM's ChatGLM2 modeling code ----
def thudm2_reference_logits(state, cfg, ids, prefix=None):
    """Seq-first forward as THUDM's ChatGLM2 code does it (fp32): RMSNorm, fused QKV split [np*hn, ng*hn, ng*hn],
    rope cache (cos, sin) pairs on the first half of each head, MQA expand, causal SDPA, SwiGLU, pre-norm residuals."""
    g = {k: v.float() for k, v in state.items()}
    _h, nh, ng, hn, L = (
        cfg[k] for k in ("hidden_size", "num_attention_heads", "multi_query_group_num", "kv_channels", "num_layers")
    )
    s = len(ids)

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg["layernorm_epsilon"]) * w

    n_elem = hn // 2
    theta = 1.0 / (10000 ** (torch.arange(0, n_elem, 2, dtype=torch.float) / n_elem))
    idx = torch.outer(torch.arange(s, dtype=torch.float), theta)
    cache = torch.stack([torch.cos(idx), torch.sin(idx)], dim=-1)  # [s, n_elem/2, 2]

    def rope(x):  # [sq, b, np, hn]
        rot = cache.shape[-2] * 2
        x, x_pass = x[..., :rot], x[..., rot:]
        xs = x.reshape(s, -1, x.shape[2], rot // 2, 2)
        rc = cache.view(s, 1, 1, rot // 2, 2)
        out = torch.stack(
            [xs[..., 0] * rc[..., 0] - xs[..., 1] * rc[..., 1], xs[..., 1] * rc[..., 0] + xs[..., 0] * rc[..., 1]], -1
        ).flatten(3)
        return torch.cat((out, x_pass), dim=-1)

    x = F.embedding(torch.tensor(ids), g["transformer.embedding.word_embeddings.weight"])[:, None]  # [s, 1, h]
    for i in range(L):
        p = f"transformer.encoder.layers.{i}."
        ln = rms(x, g[p + "input_layernorm.weight"])
        mixed = F.linear(
            ln, g[p + "self_attention.query_key_value.weight"], g[p + "self_attention.query_key_value.bias"]
        )
        q, k, v = mixed.split([nh * hn, ng * hn, ng * hn], dim=-1)
        q, k, v = q.view(s, 1, nh, hn), k.view(s, 1, ng, hn), v.view(s, 1, ng, hn)
        q, k = rope(q), rope(k)
        mask = torch.ones(s, s, dtype=torch.bool).tril()
        if prefix is not None:  # THUDM get_prompt(): per layer keys/values [p, b, ng, hn], seen by every token
            kv = prefix.view(prefix.shape[0], L * 2, ng, hn)
            k = torch.cat((kv[:, 2 * i, None], k), dim=0)
            v = torch.cat((kv[:, 2 * i + 1, None], v), dim=0)
            mask = torch.cat((torch.ones(s, prefix.shape[0], dtype=torch.bool), mask), dim=1)
        t = k.shape[0]
        k = k.unsqueeze(-2).expand(-1, -1, -1, nh // ng, -1).contiguous().view(t, 1, nh, hn)
        v = v.unsqueeze(-2).expand(-1, -1, -1, nh // ng, -1).contiguous().view(t, 1, nh, hn)
        q, k, v = (y.permute(1, 2, 0, 3) for y in (q, k, v))
        c = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).permute(2, 0, 1, 3).reshape(s, 1, nh * hn)
        x = x + F.linear(c, g[p + "self_attention.dense.weight"])
        ln2 = rms(x, g[p + "post_attention_layernorm.weight"])
        a, b = F.linear(ln2, g[p + "mlp.dense_h_to_4h.weight"]).chunk(2, dim=-1)
        x = x + F.linear(F.silu(a) * b, g[p + "mlp.dense_4h_to_h.weight"])
    x = rms(x, g["transformer.encoder.final_layernorm.weight"])
    return F.linear(x, g["transformer.output_layer.weight"]).permute(1, 0, 2)


def test_chatglm2_on_native_glm_matches_thudm_reference(thudm_folders):
    folder = thudm_folders["chatglm2"]
    cfg = json.loads((folder / "config.json").read_text())
    state = {}
    for f in sorted(folder.glob("pytorch_model-*.bin")):
        state.update(torch.load(f, weights_only=True))
    stage = make_stage(folder)
    ids = stage.encode_prompt("你好，介绍一下你自己")[0].tolist()
    with torch.no_grad():
        ours = stage.loaded.model(torch.tensor([ids])).logits
    ref = thudm2_reference_logits(state, cfg, ids)
    assert torch.allclose(ours, ref, atol=2e-4, rtol=1e-4), (ours - ref).abs().max()


def test_thudm_prefix_on_chatglm2_matches_thudm_positions(thudm_folders, tmp_path):
    folder = thudm_folders["chatglm2"]
    cfg = json.loads((folder / "config.json").read_text())
    state = {}
    for f in sorted(folder.glob("pytorch_model-*.bin")):
        state.update(torch.load(f, weights_only=True))
    flat = torch.randn(
        6,
        cfg["num_layers"] * 2 * cfg["multi_query_group_num"] * cfg["kv_channels"],
        generator=torch.Generator().manual_seed(5),
    )
    (tmp_path / "ckpt").mkdir()
    torch.save({"transformer.prefix_encoder.embedding.weight": flat}, tmp_path / "ckpt" / "pytorch_model.bin")
    stage = make_stage(folder, tmp_path / "ckpt")
    ids = stage.encode_prompt("你好")[0].tolist()
    with torch.no_grad():
        t = torch.tensor([ids])
        ours = stage.loaded.model(input_ids=t, attention_mask=torch.ones_like(t)).logits
    ref = thudm2_reference_logits(state, cfg, ids, prefix=flat)
    assert torch.allclose(ours, ref, atol=2e-4, rtol=1e-4), (ours - ref).abs().max()
    kw = {
        "max_new_tokens": 8,
        "do_sample": False,
        "eos_token_id": [-1],
        "pad_token_id": 0,
        "attention_mask": torch.ones_like(t),
    }
    with torch.no_grad():
        cached = stage.loaded.model.generate(input_ids=t, use_cache=True, **kw)
    seq = cached[0].tolist()  # uncached THUDM reference greedy over the same tokens
    for j in range(len(ids), len(seq)):
        assert int(thudm2_reference_logits(state, cfg, seq[:j], prefix=flat)[0, -1].argmax()) == seq[j]


@pytest.mark.parametrize("gen", ["chatglm6b", "chatglm2"])
def test_int8_layers_quantised_while_loading(thudm_folders, gen):
    q8 = make_stage(thudm_folders[gen], quantize_int8=True)
    fp = make_stage(thudm_folders[gen])
    model = q8.loaded.model
    qlin = torch.ao.nn.quantized.dynamic.Linear
    layer_mods = [m for n, m in model.named_modules() if ".layers." in n]
    assert any(isinstance(m, qlin) for m in layer_mods) and not any(type(m) is torch.nn.Linear for m in layer_mods)
    assert q8.loaded.quantized and "int8" in q8.loaded.describe()
    ids = fp.encode_prompt("你好，介绍一下你自己")
    with torch.no_grad():
        a, b = fp.loaded.model(ids)[0][0, -1], model(ids)[0][0, -1]
    assert F.cosine_similarity(a, b, dim=0) > 0.99
    ctx = TurnContext(1)
    list(q8.process(UserTurn(1, "你好"), ctx))
    assert ctx.info["dialogue_tokens"] >= 1

"""The conversation's KV cache kept between turns: replies equal a fresh run, only the new tokens are prefilled."""

import pytest

from pipelines.dialogue.chatglm_stage import ChatGLMDialogue
from pipelines.messages import UserTurn
from pipelines.persona import Persona
from pipelines.settings import DEFAULT_PERSONA
from pipelines.stage import TurnContext
from tests.dialogue.conftest import chat_settings
from tests.dialogue.thudm_layouts import build_chatglm2, build_chatglm6b

LOG = DEFAULT_PERSONA / "chat.jsonl"
QUERIES = ["你好，介绍一下你自己", "Who are you?", "你喜欢什么？", "再见", "明天见"]


@pytest.fixture(scope="module")
def thudm(tmp_path_factory):
    root = tmp_path_factory.mktemp("thudm-cache")
    return {
        "chatglm6b": build_chatglm6b(root / "chatglm-6b", LOG),
        "chatglm2": build_chatglm2(root / "chatglm2-6b", LOG),
        "chatglm3": build_chatglm2(root / "chatglm3-6b", LOG, v3=True),
    }


def stage_for(folder, ptuning="", **dialogue):
    dialogue.setdefault("max_new_tokens", 10)
    stage = ChatGLMDialogue.from_settings(chat_settings(folder, ptuning, **dialogue), Persona.load(DEFAULT_PERSONA))
    stage.load()
    return stage


def converse(stage, queries=QUERIES):
    out = []
    for i, q in enumerate(queries):
        ctx = TurnContext(i + 1)
        text = "".join(c.text for c in stage.process(UserTurn(i + 1, q), ctx))
        out.append((text, ctx.info["dialogue_prompt_tokens"], ctx.info["dialogue_reused_tokens"]))
    return out


def check_cached_equals_fresh(folder, ptuning="", **dialogue):
    stage = stage_for(folder, ptuning, kv_cache=True, **dialogue)
    warmed = len(stage.kv.ids)  # the prompt's fixed head, prefilled at load
    cached = converse(stage)
    fresh = converse(stage_for(folder, ptuning, kv_cache=False, **dialogue))
    assert [c[0] for c in cached] == [f[0] for f in fresh]
    assert all(f[2] == 0 for f in fresh)
    assert cached[0][2] == warmed
    return cached


@pytest.mark.parametrize("gen", ["chatglm2", "chatglm3"])
def test_thudm_v2_v3_reuse_the_previous_turns_and_reply_the_same(thudm, gen):
    cached = check_cached_equals_fresh(thudm[gen])
    prompts = [p for _, p, _ in cached]
    assert prompts == sorted(prompts) and prompts[-1] > prompts[0] + 20  # the history grows
    for (_, prompt, reused), (_, before, _) in zip(cached[1:], cached):
        assert reused >= before  # everything of the previous prompt came from the cache (and the
        # reply's tokens up to where its text re-tokenises differently: a random model writes odd bytes)


def test_template_model_with_prefix_tuning_reuses_the_cache(tiny_glm, tuned_adapter):
    stage = stage_for(tiny_glm, tuned_adapter, kv_cache=True)
    assert stage.kv.enabled and stage.kv.prefix == 16
    cached = check_cached_equals_fresh(tiny_glm, tuned_adapter)
    assert cached[0][2] >= 2  # [gMASK]-free template head: at least "<|user|>" and its newline
    assert all(reused >= before for (_, _, reused), (_, before, _) in zip(cached[1:], cached))


def test_plain_template_model_reuses_the_cache(tiny_glm):
    cached = check_cached_equals_fresh(tiny_glm)
    assert cached[0][2] > 5  # the persona's system prompt was prefilled at load
    assert all(reused >= before for (_, _, reused), (_, before, _) in zip(cached[1:], cached))


def test_chatglm6b_cannot_reuse_turns_but_replies_the_same(thudm):
    stage = stage_for(thudm["chatglm6b"], kv_cache=True)
    assert stage.kv.kind == "glm6b" and not stage.kv.enabled  # one bidirectional block: no exact reuse
    cached = check_cached_equals_fresh(thudm["chatglm6b"])
    assert all(r == 0 for _, _, r in cached)


def test_trimmed_history_reset_restore_and_interrupt_recompute_the_front(thudm):
    folder = thudm["chatglm3"]
    stage = stage_for(folder, kv_cache=True, history_tokens=60)
    fresh = stage_for(folder, kv_cache=False, history_tokens=60)
    assert stage.history.low_water < 1.0  # with a cache, rounds go a few at a time
    fresh.history.low_water = stage.history.low_water  # the same prompts, recomputed each turn
    queries = QUERIES * 2
    got, want = converse(stage, queries), converse(fresh, queries)
    assert [g[0] for g in got] == [w[0] for w in want]
    dropped = [i for i in range(1, len(got)) if got[i][1] < got[i - 1][1]]
    assert dropped, "the history budget never dropped a round"
    assert all(got[i][2] < got[i - 1][1] for i in dropped)  # the front changed: recomputed, not reused
    assert any(got[i][2] >= got[i - 1][1] for i in range(1, len(got)) if i not in dropped)

    stage.reset()
    fresh.reset()
    after_reset = converse(stage, QUERIES[:2])
    assert [c[0] for c in after_reset] == [c[0] for c in converse(fresh, QUERIES[:2])]
    assert after_reset[0][2] == got[0][2] > 0  # the head was prefilled again after the reset
    rounds = [("你好", "我是小林。"), ("你是谁？", "一个数字人。")]
    stage.restore_history(rounds)
    fresh.restore_history(rounds)
    assert stage.kv.ids == []
    assert [c[0] for c in converse(stage, QUERIES[2:4])] == [c[0] for c in converse(fresh, QUERIES[2:4])]

    flag = []
    ctx = TurnContext(99, is_cancelled=lambda: bool(flag))  # an interrupted turn: its cache is thrown away
    pieces = stage.process(UserTurn(99, "讲个故事"), ctx)
    next(pieces)
    flag.append(1)
    list(pieces)
    assert stage.kv.ids == [] and stage.kv.cache is None
    fresh_after = stage_for(folder, kv_cache=False, history_tokens=60)
    fresh_after.history.low_water = stage.history.low_water
    fresh_after.restore_history(stage.history.window())
    assert converse(stage, ["再来一次"])[0][0] == converse(fresh_after, ["再来一次"])[0][0]


def test_thudm_chatglm3_with_its_ptuning_reuses_the_cache(thudm, trained_log, tmp_path):
    from pipelines.dialogue.finetune import FinetuneConfig, finetune

    out = tmp_path / "pt"
    cfg = FinetuneConfig(
        data=str(trained_log), base=str(thudm["chatglm3"]), out=str(out), pre_seq_len=8, steps=3, lr=0.05
    )
    cfg.batch_size, cfg.save_steps, cfg.seed = 2, 3, 1
    finetune(cfg, on_log=lambda text: None)
    stage = stage_for(thudm["chatglm3"], out, kv_cache=True)
    assert stage.kv.enabled and stage.kv.prefix == 8  # the THUDM prefix, numbered from 0 after it
    cached = check_cached_equals_fresh(thudm["chatglm3"], out)
    assert all(reused >= before for (_, _, reused), (_, before, _) in zip(cached[1:], cached))

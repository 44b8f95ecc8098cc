"""The dialogue benchmark's figures are consistent with what it ran (no speed is asserted)."""

import json

from pipelines.bench import dialogue as bench


def test_bench_reports_consistent_figures_for_the_tiny_model(capsys):
    assert (
        bench.main(
            [
                "--tiny",
                "--turns",
                "2",
                "--tokens",
                "12",
                "--variants",
                "fp32,int8",
                "--finetune-steps",
                "3",
                "--threads",
                "1",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [v["variant"] for v in report["variants"]] == ["fp32", "int8"]
    assert "int8" in report["variants"][1]["model"] and "int8" not in report["variants"][0]["model"]
    for v in report["variants"]:
        assert len(v["per_turn"]) == 2
        for turn in v["per_turn"]:
            assert 1 <= turn["new_tokens"] <= 12 and turn["prompt_tokens"] > 5
            assert 0 < turn["first_token_s"] < turn["wall_s"]
        assert v["peak_rss_mb"] >= v["rss_mb"] > 50
    assert report["finetune"]["steps"] == 3 and report["finetune"]["steps_per_s"] > 0
    assert bench.main(["--variants", "fp64"]) == 2


def test_conversation_bench_reports_the_kept_cache_per_turn(capsys):
    args = ["--tiny", "--conversation", "--turns", "3", "--tokens", "8", "--threads", "1", "--json"]
    assert bench.main(args) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    on, off = report["variants"]
    assert on["kv_cache"] and not off["kv_cache"]
    assert [t["prompt_tokens"] for t in on["per_turn"]] == [t["prompt_tokens"] for t in off["per_turn"]]
    prompts = [t["prompt_tokens"] for t in on["per_turn"]]
    assert prompts == sorted(prompts) and prompts[0] < prompts[-1]  # one conversation: the history grows
    assert all(t["reused_tokens"] == 0 for t in off["per_turn"])
    for before, turn in zip(on["per_turn"], on["per_turn"][1:]):
        assert turn["reused_tokens"] >= before["prompt_tokens"]  # the previous prompt came from the cache


def test_kernel_bench_times_every_kernel_and_each_computes_the_product():
    from pipelines.bench.glm_kernels import kernels_for

    rows = kernels_for(128, 48, 5, repeat=1)
    assert set(rows) == {"1_row", "5_rows"}
    for kernels in rows.values():
        assert set(kernels) == {"fp32", "bf16", "int8_dynamic", "int8_pack", "int4_pack", "int4_ort"}
        assert kernels["fp32"]["rel_err"] < 1e-5 and kernels["bf16"]["rel_err"] < 0.02
        assert kernels["int8_dynamic"]["rel_err"] < 0.03 and kernels["int8_pack"]["rel_err"] < 0.03
        assert 0.01 < kernels["int4_pack"]["rel_err"] < 0.15  # 4 bits in groups of 32
        assert 0.01 < kernels["int4_ort"]["rel_err"] < 0.15
        assert all(v["ms"] > 0 and v["gb_s"] > 0 for v in kernels.values())


def test_interleaved_bench_ranks_variants_by_rounds(monkeypatch):
    from pipelines.bench import glm_shapes

    small = {**glm_shapes.SHAPES_6B2, "hidden_size": 128, "ffn_hidden_size": 256, "num_attention_heads": 4}
    small.update(multi_query_group_num=2, kv_channels=32, padded_vocab_size=512)
    monkeypatch.setattr(glm_shapes, "SHAPES_6B2", small)  # the same code on a model small enough for a test
    report = glm_shapes.bench_interleaved(["int8", "int4"], rounds=2, tokens=2, history=8)
    rows = report["variants"]
    assert set(rows) == {"int8", "int4"} and report["rounds"] == 2
    assert rows["int8"]["speedup_vs_int8"] == 1.0  # each round against itself
    for r in rows.values():
        assert 0 < r["tokens_per_s_median"] <= r["tokens_per_s_best"]


def test_int4_variants_differ_only_in_the_dtype_around_the_int4_layers(monkeypatch):
    import torch

    from pipelines.bench import glm_shapes
    from pipelines.dialogue.quantize import Int4Linear

    small = {**glm_shapes.SHAPES_6B2, "hidden_size": 128, "ffn_hidden_size": 256, "num_attention_heads": 4}
    small.update(multi_query_group_num=2, kv_channels=32, padded_vocab_size=512)
    monkeypatch.setattr(glm_shapes, "SHAPES_6B2", small)
    dtypes = {}
    for variant in ("int4", "int4-fp32"):
        model, _ = glm_shapes._build_glm2(1, variant)
        linears = [m for m in model.modules() if isinstance(m, (Int4Linear, torch.nn.Linear))]
        assert linears and all(isinstance(m, Int4Linear) for m in linears)  # the output layer too
        dtypes[variant] = {model.model.embed_tokens.weight.dtype, model.model.norm.weight.dtype}
        ids = torch.tensor([[5, 6, 7]])
        with torch.inference_mode():
            assert torch.isfinite(model(ids).logits.float()).all()
    assert dtypes == {"int4": {torch.bfloat16}, "int4-fp32": {torch.float32}}

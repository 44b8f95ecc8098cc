"""``bench asr`` runs and reports its figures (values are not asserted: speed belongs to the benchmark)."""

import json

from pipelines.bench import asr as bench


def test_bench_asr_reports_each_backend(tmp_path, capsys):
    rc = bench.main(
        ["--no-engine", "--json", "--whisper-dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path)]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ps, wh = res
    assert ps["backend"] == "pocketsphinx" and ps["rtf"] > 0 and ps["eos_to_text_s"] > 0.6  # >= the end pause
    assert 0.0 <= ps["wer"] <= 1.0 and len(ps["per_question"]) == 3
    assert wh["backend"] == "whisper" and "not a folder" in wh["error"]

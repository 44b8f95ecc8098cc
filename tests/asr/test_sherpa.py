"""sherpa-onnx folders: each missing file named on its own line; a broken model is one clear error."""

import pytest

from pipelines.asr.sherpa_asr import SherpaRecognizer, check_sherpa_folder, model_kind
from pipelines.settings import Settings


def test_missing_files_one_line_each(tmp_path):
    d = tmp_path / "sherpa-onnx-sense-voice-zh-en"
    d.mkdir()
    problems = check_sherpa_folder(d)
    assert len(problems) == 2
    assert "model.int8.onnx or model.onnx" in problems[0] and "tokens.txt" in problems[1]
    (d / "tokens.txt").write_text("<blk> 0\n")
    assert len(check_sherpa_folder(d)) == 1
    assert "not a folder" in check_sherpa_folder(tmp_path / "nope")[0]


def test_kind_from_folder_name(tmp_path):
    assert model_kind(tmp_path / "sherpa-onnx-paraformer-zh-2023-09-14", tmp_path / "m.onnx") == "paraformer"
    assert model_kind(tmp_path / "sherpa-onnx-sense-voice-zh-en-ja-ko-yue", tmp_path / "m.onnx") == "sense_voice"


def test_load_reports_missing_files_and_a_broken_model(tmp_path):
    pytest.importorskip("sherpa_onnx")
    s = Settings()
    s.asr.backend, s.asr.model_dir = "sherpa-onnx", str(tmp_path / "my-model")
    (tmp_path / "my-model").mkdir()
    with pytest.raises(FileNotFoundError, match="missing the acoustic model.*missing tokens.txt"):
        SherpaRecognizer(s.asr, s).load()
    (tmp_path / "my-model" / "model.onnx").write_bytes(b"not onnx")
    (tmp_path / "my-model" / "tokens.txt").write_text("<blk> 0\n")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        SherpaRecognizer(s.asr, s).load()

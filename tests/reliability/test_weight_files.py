"""Damaged weights / adapter files: one line saying what is wrong and what to do."""

from __future__ import annotations

import pytest
import torch

from pipelines.settings import DEFAULT_PERSONA


@pytest.fixture(scope="module")
def tiny_glm(tmp_path_factory):
    from pipelines.dialogue.tiny_model import build_tiny_glm, chat_log_texts

    return build_tiny_glm(
        tmp_path_factory.mktemp("models") / "tiny-glm",
        chat_log_texts(DEFAULT_PERSONA / "chat.jsonl"),
        hidden_size=32,
        vocab_size=600,
    )


def test_truncated_safetensors_adapter_file(tmp_path):
    from safetensors.torch import save_file

    from pipelines.dialogue.ptuning_checkpoint import PtuningError, load_state_file

    p = tmp_path / "model.safetensors"
    save_file({"transformer.prefix_encoder.embedding.weight": torch.zeros(4, 8)}, str(p))
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(PtuningError) as info:
        load_state_file(p)
    msg = str(info.value)
    assert "\n" not in msg and "cut short" in msg and "copy it again" in msg, msg


def test_truncated_model_weights(tiny_glm, tmp_path):
    import shutil

    from pipelines.dialogue.model_loader import ModelLoadError, load_base

    broken = tmp_path / "broken"
    shutil.copytree(tiny_glm, broken)
    w = broken / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(ModelLoadError) as info:
        load_base(broken)
    msg = str(info.value)
    assert "damaged or cut short" in msg and "copy the model folder again" in msg, msg


@pytest.mark.parametrize("junk", ["[1, 2]", '"prefix"', '{"num_virtual_tokens": "many"}', "{not json"])
def test_junk_adapter_config(tiny_glm, tmp_path, junk):
    from pipelines.dialogue.model_loader import load_for_chat
    from pipelines.dialogue.ptuning_checkpoint import PtuningError

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(junk)
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    from pipelines.settings import ChatGLMSettings

    ds = ChatGLMSettings()
    with pytest.raises(PtuningError) as info:
        load_for_chat(ds, tiny_glm, adapter)
    msg = str(info.value)
    assert "adapter_config.json" in msg and "\n" not in msg, msg
    assert "restore" in msg or "see the adapter_config.json" in msg, msg

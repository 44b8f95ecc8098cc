"""A tiny random transformers Whisper folder (the real layout: config, safetensors weights, generation
config, feature extractor and byte-level BPE tokenizer files) loads and runs through the ASR stage."""

import json

import numpy as np
import pytest

from pipelines.asr.stage import AsrStage, PartialText, SpokenInput
from pipelines.asr.whisper_asr import WhisperRecognizer, check_whisper_folder
from pipelines.messages import UserTurn
from pipelines.settings import Settings
from pipelines.stage import TurnContext

SPECIAL = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|zh|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
]


def byte_chars():
    """GPT-2 / Whisper byte-to-unicode table (every byte is one base token)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("whisper-tiny-random")
    vocab = {ch: i for i, ch in enumerate(byte_chars())}
    vocab.update({"Ġh": len(vocab), "el": len(vocab) + 1, "lo": len(vocab) + 2})
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\nĠ h\ne l\nl o\n")
    tok = tf.WhisperTokenizer(
        str(d / "vocab.json"),
        str(d / "merges.txt"),
        additional_special_tokens=SPECIAL[1:],
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL}
    fe = tf.WhisperFeatureExtractor(feature_size=80)
    fe.save_pretrained(str(d))  # preprocessor_config.json, as in openai/whisper-* folders
    tok.save_pretrained(str(d))  # tokenizer_config.json, vocab.json, merges.txt, special tokens
    cfg = tf.WhisperConfig(
        vocab_size=len(tok),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=64,
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    torch.manual_seed(0)
    model = tf.WhisperForConditionalGeneration(cfg)
    # the keys of openai/whisper-* generation_config.json (not from_model_config: its flag drops custom keys on load)
    gc = tf.GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        begin_suppress_tokens=[ids["<|endoftext|>"]],
        suppress_tokens=[],
    )
    gc.lang_to_id = {"<|en|>": ids["<|en|>"], "<|zh|>": ids["<|zh|>"]}
    gc.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    gc.no_timestamps_token_id = ids["<|notimestamps|>"]
    gc.is_multilingual = True
    gc.max_length = 24
    model.generation_config = gc
    model.save_pretrained(str(d))
    return d


def test_folder_has_the_real_layout(whisper_dir):
    names = {p.name for p in whisper_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "preprocessor_config.json",
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
    } <= names
    assert check_whisper_folder(whisper_dir) == []


def test_missing_files_are_named_one_per_line(tmp_path, whisper_dir):
    (tmp_path / "config.json").write_text((whisper_dir / "config.json").read_text())
    problems = check_whisper_folder(tmp_path)
    assert len(problems) == 3
    assert any("weights" in p for p in problems) and any("preprocessor_config.json" in p for p in problems)
    assert any("tokenizer" in p for p in problems)


@pytest.mark.parametrize("language", ["auto", "zh"])
def test_tiny_whisper_runs_through_the_stage(whisper_dir, espeak, language):
    s = Settings()
    s.asr.backend, s.asr.model_dir, s.asr.language = "whisper", str(whisper_dir), language
    stage = AsrStage(s)
    assert isinstance(stage.recognizer, WhisperRecognizer)
    stage.load()
    assert stage.recognizer._language == (None if language == "auto" else "zh")  # the <|zh|> token is forced
    audio = espeak("Hello there.")
    outs = list(stage.process(SpokenInput(1, audio, 16000), TurnContext(1)))
    # random weights: some text or none, but the whole path (features, generate, decode) ran
    assert all(isinstance(m, UserTurn) for m in outs)
    assert stage.last_figures["backend"].startswith("whisper") and stage.last_figures["audio_s"] > 0.3
    assert stage.last_figures["recognize_s"] > 0
    partial = list(stage.process(SpokenInput(2, audio[:8000], 16000, final=False), TurnContext(2)))
    assert all(isinstance(m, PartialText) for m in partial)
    text = stage.recognizer.transcribe(np.concatenate([audio, audio]), 16000)
    assert isinstance(text, str)

"""ChatGLM-6B P-tuning labels are THUDM's: ``[-100] * context_length + input_ids[context_length:]``."""

from pipelines.dialogue.chat_data import ChatExample
from pipelines.dialogue.finetune_data import IGNORE, encode_examples
from pipelines.dialogue.glm.folder import load_tokenizer
from pipelines.dialogue.model_loader import read_model_config as read_json_config
from pipelines.dialogue.prompt_format import PromptFormat
from pipelines.settings import DEFAULT_PERSONA
from tests.dialogue.thudm_layouts import build_chatglm2, build_chatglm6b

LOG = DEFAULT_PERSONA / "chat.jsonl"
EXAMPLES = [
    ChatExample("你好，介绍一下你自己", "我是小林。"),
    ChatExample("再见", "明天见！", history=(("你好", "你好呀"),)),
]


def thudm_v1_labels(input_ids, bos):
    """ptuning/main.py, preprocess_function_train (ChatGLM-6B)."""
    context_length = input_ids.index(bos)
    mask_position = context_length - 1
    return [-100] * context_length + input_ids[mask_position + 1 :]


def test_chatglm6b_labels_keep_the_sop_prediction(tmp_path):
    folder = build_chatglm6b(tmp_path / "chatglm-6b", LOG)
    tok = load_tokenizer(folder, "chatglm6b", read_json_config(folder))
    encoded = encode_examples(EXAMPLES, tok, PromptFormat("chatglm", tok), tok.eos_token_id, 64, 32)
    for e in encoded:
        assert e.input_ids[e.input_ids.index(tok.bos_token_id) - 1] == tok.gmask_token_id
        assert e.labels == thudm_v1_labels(e.input_ids, tok.bos_token_id)
        sop = e.input_ids.index(tok.bos_token_id)
        assert e.labels[sop] == tok.bos_token_id and e.labels[sop - 1] == IGNORE


def test_chatglm2_labels_mask_the_whole_source(tmp_path):
    folder = build_chatglm2(tmp_path / "chatglm2-6b", LOG)
    tok = load_tokenizer(folder, "chatglm2", read_json_config(folder))
    fmt = PromptFormat("chatglm2", tok)
    (e,) = encode_examples(EXAMPLES[:1], tok, fmt, tok.eos_token_id, 64, 32)
    src = len(fmt.build_ids(EXAMPLES[0].prompt))
    assert e.labels[:src] == [IGNORE] * src and e.labels[src:] == e.input_ids[src:]  # THUDM's v2 script

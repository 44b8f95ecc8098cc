"""ChatGLM tokenizers from THUDM's sentencepiece files, written here (no remote code).

ChatGLM-6B (v1), ``ice_text.model``: THUDM's text is preprocessed (``\\n`` ->
``<n>``, ``\\t`` -> ``<|tab|>``, runs of 2..80 spaces -> ``<|blank_N|>``), cut by
sentencepiece, and every piece id is shifted by ``num_image_tokens`` (20000 in
THUDM's code: the image tokens come first).  ``[MASK]`` ``[gMASK]`` ``[sMASK]``
``<sop>`` ``<eop>`` are pieces of the model; a prompt ends in ``[gMASK] <sop>``.

ChatGLM2/3, ``tokenizer.model``: plain sentencepiece ids; the special tokens come
after the sentencepiece vocabulary in THUDM's order (``[MASK] [gMASK] [sMASK]
sop eop``, ChatGLM3 adds ``<|system|> <|user|> <|assistant|> <|observation|>``);
a prompt starts with ``[gMASK] sop``; eos is sentencepiece's ``</s>``, pad its unk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...optional import require

V1_SPECIALS = ("[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>")
V2_SPECIALS = ("[MASK]", "[gMASK]", "[sMASK]", "sop", "eop")
V3_ROLES = ("<|system|>", "<|user|>", "<|assistant|>", "<|observation|>")
MAX_BLANK = 80


class TokenizerError(ValueError):
    """A tokenizer file that does not fit its model folder."""


@dataclass
class Encoding:
    input_ids: list[int]
    attention_mask: list[int] = field(default_factory=list)

    def __getitem__(self, key):
        return getattr(self, key)


def _sp(path: Path):
    spm = require("sentencepiece", purpose="ChatGLM tokenizers")
    if not path.is_file():
        raise TokenizerError(
            f"{path.parent}: tokenizer file {path.name} is missing; copy it from the original THUDM model folder"
        )
    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(str(path))
    except Exception as exc:
        raise TokenizerError(f"{path}: not a sentencepiece model ({exc})") from exc
    return sp


class _Base:
    chat_template = None
    padding_side = "left"
    specials: dict[str, int]

    def __call__(self, text: str, add_special_tokens: bool = True, **_) -> Encoding:
        ids = self.encode(text, add_special_tokens=add_special_tokens)
        return Encoding(ids, [1] * len(ids))

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def all_special_ids(self) -> list[int]:
        return sorted(set(self.specials.values()))

    def convert_tokens_to_ids(self, token: str) -> int:
        if token in self.specials:
            return self.specials[token]
        return self._piece_to_id(token)

    def get_command(self, token: str) -> int:
        return self.specials[token]


class ChatGLM6BTokenizer(_Base):
    """THUDM ChatGLM-6B's ``ice_text.model`` tokenizer."""

    def __init__(self, vocab_file: Path, num_image_tokens: int = 20000) -> None:
        self.sp = _sp(Path(vocab_file))
        self.offset = int(num_image_tokens)
        self.specials = {}
        for name in V1_SPECIALS + ("<pad>", "<unk>", "</s>"):
            pid = self.sp.PieceToId(name)
            if name in V1_SPECIALS and (pid == self.sp.unk_id() and name != "<unk>"):
                raise TokenizerError(f"{vocab_file}: has no {name} piece, so it is not ChatGLM-6B's ice_text.model")
            self.specials[name] = pid + self.offset
        self.gmask_token_id = self.specials["[gMASK]"]
        self.mask_token_id = self.specials["[MASK]"]
        self.bos_token_id = self.specials["<sop>"]
        self.eos_token_id = self.specials["<eop>"]
        self.pad_token_id = self.specials["<pad>"]
        self.vocab_size = self.offset + self.sp.GetPieceSize()

    @staticmethod
    def preprocess(text: str) -> str:
        text = text.replace("\n", "<n>").replace("\t", "<|tab|>")
        for n in range(MAX_BLANK, 1, -1):
            text = text.replace(" " * n, f"<|blank_{n}|>")
        return text

    @staticmethod
    def postprocess(text: str) -> str:
        text = text.replace("<n>", "\n").replace("<|tab|>", "\t")
        return re.sub(r"<\|blank_(\d+)\|>", lambda m: " " * int(m.group(1)), text)

    def _piece_to_id(self, piece: str) -> int:
        return self.sp.PieceToId(piece) + self.offset

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = [i + self.offset for i in self.sp.EncodeAsIds(self.preprocess(text))]
        if add_special_tokens:
            ids += [self.gmask_token_id, self.bos_token_id]
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            drop = set(self.specials.values())
            ids = [i for i in ids if i not in drop]
        sp_ids = [i - self.offset for i in ids if i >= self.offset]  # image tokens have no text
        return self.postprocess(self.sp.DecodeIds(sp_ids))


class ChatGLM2Tokenizer(_Base):
    """THUDM ChatGLM2-6B / ChatGLM3-6B ``tokenizer.model`` (``roles``: ChatGLM3's role tokens)."""

    def __init__(self, vocab_file: Path, roles: bool = False) -> None:
        self.sp = _sp(Path(vocab_file))
        self.n_words = self.sp.GetPieceSize()
        names = V2_SPECIALS + (V3_ROLES if roles else ())
        self.specials = {name: self.n_words + i for i, name in enumerate(names)}
        self.index_special = {v: k for k, v in self.specials.items()}
        self.bos_token_id = self.sp.bos_id()
        self.eos_token_id = self.sp.eos_id()
        self.pad_token_id = self.sp.unk_id()
        self.gmask_token_id = self.specials["[gMASK]"]
        self.sop_token_id = self.specials["sop"]
        self.vocab_size = self.n_words + len(names)
        self.roles = roles

    @property
    def all_special_ids(self) -> list[int]:
        return sorted(set(self.specials.values()) | {self.eos_token_id, self.bos_token_id, self.pad_token_id})

    def _piece_to_id(self, piece: str) -> int:
        return self.sp.PieceToId(piece)

    @property
    def prefix(self) -> list[int]:
        return [self.gmask_token_id, self.sop_token_id]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = list(self.sp.EncodeAsIds(text))
        return self.prefix + ids if add_special_tokens else ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        text, buf = "", []
        drop = set(self.all_special_ids) if skip_special_tokens else set()
        for i in (int(x) for x in ids):
            if i in drop:
                continue
            if i in self.index_special:
                text += self.sp.DecodeIds(buf) + self.index_special[i]
                buf = []
            elif i < self.n_words:
                buf.append(i)
        return text + self.sp.DecodeIds(buf)

    def message_ids(self, role: str, content: str, metadata: str = "") -> list[int]:
        """ChatGLM3's ``build_single_message``: role token, ``metadata\\n``, then the content."""
        return [self.specials[f"<|{role}|>"]] + self.encode(f"{metadata}\n", False) + self.encode(content, False)

"""Character n-gram TF-IDF index that works for Chinese without a word segmenter.

Features of a text (after NFKC + lower-casing; punctuation separates runs):

- CJK runs: every character and every pair of neighbouring characters;
- Latin / digit runs: the word itself and its character trigrams with word
  boundaries (``#he``, ``hel``, ...), so "what's" still meets "what".

Vectors use sub-linear term frequency and smoothed IDF, L2-normalised, so a
query's cosine with a document is in [0, 1].  Query features the index has
never seen count in the query's norm with the highest IDF, which keeps scores
honest for messages that are mostly about something else.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Sequence

import numpy as np

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[a-z0-9\u00c0-\u024f']+")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_HAS_LATIN = re.compile(r"[A-Za-z]")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def is_chinese(text: str) -> bool:
    """True when the text has CJK characters (the reply language for fallbacks and voices)."""
    return bool(_HAS_CJK.search(text))


def features(text: str) -> Counter:
    out: Counter = Counter()
    for run in _RUN.findall(normalise(text)):
        if _HAS_CJK.match(run):
            out.update("c:" + ch for ch in run)
            out.update("b:" + run[i : i + 2] for i in range(len(run) - 1))
        else:
            word = run.replace("'", "")
            if not word:
                continue
            out["w:" + word] += 1
            padded = f"#{word}#"
            out.update("t:" + padded[i : i + 3] for i in range(len(padded) - 2))
    return out


class TfidfIndex:
    """Cosine similarity of a query with every indexed text."""

    def __init__(self, texts: Sequence[str]) -> None:
        from scipy import sparse

        docs = [features(t) for t in texts]
        df: Counter = Counter()
        for d in docs:
            df.update(d.keys())
        self.vocab = {term: i for i, term in enumerate(sorted(df))}
        n = len(docs)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in sorted(df)], dtype=np.float64)
        self.unseen_idf = math.log(1 + n) + 1.0
        rows, cols, vals = [], [], []
        for r, d in enumerate(docs):
            for term, tf in d.items():
                rows.append(r)
                cols.append(self.vocab[term])
                vals.append(1.0 + math.log(tf))
        mat = sparse.csr_matrix((vals, (rows, cols)), shape=(n, max(1, len(self.vocab))), dtype=np.float64)
        mat = mat.multiply(self.idf[None, :] if len(self.vocab) else 1.0).tocsr()
        norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.matrix = sparse.diags(1.0 / norms) @ mat
        self.size = n

    def scores(self, query: str) -> np.ndarray:
        """Cosine of ``query`` with each indexed text (zeros when nothing is shared)."""
        feats = features(query)
        if not feats or self.size == 0:
            return np.zeros(self.size)
        vec = np.zeros(self.matrix.shape[1])
        unseen = 0.0
        for term, tf in feats.items():
            w = 1.0 + math.log(tf)
            j = self.vocab.get(term)
            if j is None:
                unseen += (w * self.unseen_idf) ** 2
            else:
                vec[j] = w * self.idf[j]
        norm = math.sqrt(float(vec @ vec) + unseen)
        if norm == 0:
            return np.zeros(self.size)
        return np.asarray(self.matrix @ (vec / norm)).ravel()

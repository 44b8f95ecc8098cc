"""THUDM ChatGLM-6B (GLM, v1) written here; loads THUDM's state-dict keys as they are.

Architecture (THUDM's ``modeling_chatglm.py``): word embeddings; per layer
``input_layernorm`` -> fused ``query_key_value`` (per head ``[q|k|v]``) with 2-D
rotary positions (the first half of each head's dims rotated by the position,
the second half by the block position; inverse frequencies rounded through
fp16 as THUDM stores them) -> ``dense``; residuals ``ln_out * alpha + f(ln_out)``
with ``alpha = sqrt(2 * num_layers)``; tanh-GELU MLP; ``final_layernorm``;
``lm_head``.  Attention mask: every token sees the whole context before
``<sop>``, causal after it; positions after ``[gMASK]`` stay at the mask's
position while the block position counts 1, 2, ... from ``<sop>``.

P-tuning v2: ``transformer.prefix_encoder`` (THUDM's keys) gives each layer
``pre_seq_len`` extra keys/values that every token sees; positions still start at 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...optional import require

torch = require("torch", purpose="the ChatGLM-6B model")
nn = torch.nn
F = torch.nn.functional


@dataclass
class GLM6BConfig:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    inner_hidden_size: int
    layernorm_epsilon: float = 1e-5
    max_sequence_length: int = 2048
    bos_token_id: int = 130004
    eos_token_id: int = 130005
    mask_token_id: int = 130000
    gmask_token_id: int = 130001
    pad_token_id: int = 3
    pre_seq_len: int = 0
    prefix_projection: bool = False

    @classmethod
    def from_json(cls, cfg: dict, **overrides) -> GLM6BConfig:
        keys = cls.__dataclass_fields__
        values = {k: cfg[k] for k in keys if cfg.get(k) is not None}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class PrefixEncoder(nn.Module):
    """THUDM's v1 prefix encoder: ``embedding`` (+ ``trans`` MLP with ``prefix_projection``)."""

    def __init__(self, cfg: GLM6BConfig) -> None:
        super().__init__()
        width = cfg.num_layers * cfg.hidden_size * 2
        self.projection = cfg.prefix_projection
        if self.projection:
            self.embedding = nn.Embedding(cfg.pre_seq_len, cfg.hidden_size)
            self.trans = nn.Sequential(
                nn.Linear(cfg.hidden_size, cfg.hidden_size), nn.Tanh(), nn.Linear(cfg.hidden_size, width)
            )
        else:
            self.embedding = nn.Embedding(cfg.pre_seq_len, width)

    def forward(self, tokens):
        h = self.embedding(tokens)
        return self.trans(h) if self.projection else h


@dataclass
class GLMOutput:
    logits: Any
    past_key_values: Any
    loss: Any = None

    def __iter__(self):
        return iter((self.logits, self.past_key_values, self.loss))

    def __getitem__(self, i):
        return (self.logits, self.past_key_values, self.loss)[i]


def rotary_tables(dim: int, positions, dtype):
    """cos/sin ``(..., dim)`` for integer ``positions`` (THUDM: inv_freq kept in fp16)."""
    inv_freq = (1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))).half().float()
    freqs = positions.to(torch.float32)[..., None] * inv_freq.to(positions.device)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, cfg: GLM6BConfig, layer_id: int) -> None:
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        self.layer_id = layer_id
        self.query_key_value = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x, position_ids, mask, past):
        b, s, _ = x.shape
        q, k, v = self.query_key_value(x).view(b, s, self.heads, 3 * self.head_dim).split(self.head_dim, dim=-1)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (b, heads, s, head_dim)
        half = self.head_dim // 2
        parts_q, parts_k = [], []
        for j, (qq, kk) in enumerate(zip(q.split(half, -1), k.split(half, -1))):
            cos, sin = rotary_tables(half, position_ids[:, j], q.dtype)  # (b, s, half)
            cos, sin = cos[:, None], sin[:, None]
            parts_q.append(qq * cos + rotate_half(qq) * sin)
            parts_k.append(kk * cos + rotate_half(kk) * sin)
        q, k = torch.cat(parts_q, -1), torch.cat(parts_k, -1)
        if past is not None:
            k = torch.cat((past[0].to(k.dtype), k), dim=2)
            v = torch.cat((past[1].to(v.dtype), v), dim=2)
        present = (k, v)
        coeff = float(self.layer_id + 1)
        scores = torch.matmul(q / (math.sqrt(self.head_dim) * coeff), k.transpose(-1, -2))
        scores = scores.masked_fill(mask, -10000.0).float() * coeff
        probs = torch.softmax(scores, dim=-1).to(v.dtype)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, -1)
        return self.dense(ctx), present


class MLP(nn.Module):
    def __init__(self, cfg: GLM6BConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = nn.Linear(cfg.hidden_size, cfg.inner_hidden_size)
        self.dense_4h_to_h = nn.Linear(cfg.inner_hidden_size, cfg.hidden_size)

    def forward(self, x):
        return self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x), approximate="tanh"))


class GLMBlock(nn.Module):
    def __init__(self, cfg: GLM6BConfig, layer_id: int) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layernorm_epsilon)
        self.attention = SelfAttention(cfg, layer_id)
        self.post_attention_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layernorm_epsilon)
        self.mlp = MLP(cfg)
        self.alpha = (2 * cfg.num_layers) ** 0.5

    def forward(self, x, position_ids, mask, past):
        ln = self.input_layernorm(x)
        attn, present = self.attention(ln, position_ids, mask, past)
        h = ln * self.alpha + attn
        ln2 = self.post_attention_layernorm(h)
        return ln2 * self.alpha + self.mlp(ln2), present


class ChatGLM6BTransformer(nn.Module):
    def __init__(self, cfg: GLM6BConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(GLMBlock(cfg, i) for i in range(cfg.num_layers))
        self.final_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layernorm_epsilon)
        self.prefix_encoder = PrefixEncoder(cfg) if cfg.pre_seq_len else None


class _Config:
    """The attributes generic code reads off ``model.config``."""

    def __init__(self, cfg: GLM6BConfig) -> None:
        self.__dict__.update(vars(cfg))
        self.num_hidden_layers = cfg.num_layers
        self.model_type = "chatglm"


class ChatGLM6B(nn.Module):
    """ChatGLM-6B for generation and P-tuning (batch-first tensors)."""

    def __init__(self, cfg: GLM6BConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.config = _Config(cfg)
        self.transformer = ChatGLM6BTransformer(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.generation_config = None

    # -- masks and positions (THUDM's get_masks / get_position_ids) --------
    def context_info(self, ids: list[int]) -> tuple[int, int]:
        """(index of <sop>, index of [gMASK]/[MASK]) in one sequence."""
        c = self.cfg
        mask_tok = c.mask_token_id if c.mask_token_id in ids else c.gmask_token_id
        if mask_tok not in ids or c.bos_token_id not in ids:
            raise ValueError("ChatGLM-6B input needs [gMASK] and <sop> (the tokenizer adds them)")
        return ids.index(c.bos_token_id), ids.index(mask_tok)

    def positions_and_mask(self, input_ids, past_len: int = 0):
        """2-D position ids ``(b, 2, s)`` and the bool mask ``(b, 1, s, past+s)`` (True = hidden)."""
        b, s = input_ids.shape
        dev = input_ids.device
        total = past_len + s
        pos = torch.empty(b, 2, s, dtype=torch.long, device=dev)
        mask = torch.ones(b, 1, s, total, dtype=torch.bool, device=dev)
        prompt = input_ids.tolist()
        for i in range(b):
            ctx, mpos = self.context_info(self._seq_cache[i] if past_len else prompt[i])
            idx = torch.arange(past_len, total, device=dev)
            pos[i, 0] = torch.where(idx >= ctx, torch.full_like(idx, mpos), idx)
            pos[i, 1] = torch.where(idx >= ctx, idx - ctx + 1, torch.zeros_like(idx))
            visible = torch.arange(total, device=dev)[None, :] <= idx[:, None]
            visible[:, :ctx] = True
            mask[i, 0] = ~visible
        return pos, mask

    def prefix_past(self, batch: int, dtype, device):
        """The P-tuning prefix's keys/values per layer; kept between calls at inference (a
        ``prefix_projection`` MLP costs a prompt's worth of compute on a 6B model)."""
        enc = self.transformer.prefix_encoder
        inference = not torch.is_grad_enabled() and not self.training
        key = (batch, dtype, str(device), id(enc), tuple(p._version for p in enc.parameters()))
        memo = getattr(self, "_prefix_memo", None)
        if inference and memo is not None and memo[0] == key:
            return memo[1]
        past = self._prefix_past(batch, dtype, device)
        self._prefix_memo = (key, past) if inference else None
        return past

    def _prefix_past(self, batch: int, dtype, device):
        c = self.cfg
        tokens = torch.arange(c.pre_seq_len, device=device)[None].expand(batch, -1)
        kv = self.transformer.prefix_encoder(tokens).to(dtype)
        hd = c.hidden_size // c.num_attention_heads
        kv = kv.view(batch, c.pre_seq_len, c.num_layers * 2, c.num_attention_heads, hd).permute(2, 0, 3, 1, 4)
        return [(kv[2 * i], kv[2 * i + 1]) for i in range(c.num_layers)]  # (b, heads, p, hd)

    def forward(self, input_ids, past_key_values=None, labels=None, attention_mask=None, last_only: bool = False):
        """Logits ``(b, s, vocab)``, the new cache, and the loss with ``labels`` (-100 ignored).

        Batches are right-padded (``attention_mask`` is then implied: padding comes after every real
        token, and its labels are -100)."""
        b, s = input_ids.shape
        past_len = 0 if past_key_values is None else int(past_key_values[0][0].shape[2])
        p = self.cfg.pre_seq_len
        x = self.transformer.word_embeddings(input_ids)
        if past_key_values is None and p:
            past_key_values = self.prefix_past(b, x.dtype, x.device)
        own_past = past_len - (p if past_len else 0)
        pos, mask = self.positions_and_mask(input_ids, own_past)
        if p:
            mask = torch.cat((torch.zeros(b, 1, s, p, dtype=torch.bool, device=x.device), mask), dim=3)
        presents = []
        for i, layer in enumerate(self.transformer.layers):
            x, present = layer(x, pos, mask, None if past_key_values is None else past_key_values[i])
            presents.append(present)
        if last_only:  # generation needs only the newest position's logits
            x = x[:, -1:]
        logits = self.lm_head(self.transformer.final_layernorm(x))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
            )
        return GLMOutput(logits, presents, loss)

    # -- generation ---------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        input_ids,
        max_new_tokens: int = 64,
        streamer: Any = None,
        stopping_criteria: Any = None,
        eos_token_id: Any = None,
        do_sample: bool = False,
        temperature: float | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        **_ignored,
    ):
        """Greedy or top-p sampling, one sequence at a time with a KV cache (THUDM's semantics)."""
        if input_ids.shape[0] != 1:
            raise ValueError("ChatGLM6B.generate handles one sequence at a time")
        eos = set([eos_token_id] if isinstance(eos_token_id, int) else (eos_token_id or [self.cfg.eos_token_id]))
        seq = input_ids
        self._seq_cache = [input_ids[0].tolist()]
        if streamer is not None:
            streamer.put(input_ids.cpu())
        past = None
        step_input = seq
        for _ in range(max_new_tokens):
            if use_cache:
                logits, past, _ = self.forward(step_input, past, last_only=True)
            else:
                self._seq_cache = [seq[0].tolist()]
                logits, _, _ = self.forward(seq, None, last_only=True)
            scores = logits[:, -1].float()
            if do_sample and temperature:
                probs = torch.softmax(scores / float(temperature), dim=-1)
                if top_p and top_p < 1.0:
                    sp, si = probs.sort(descending=True)
                    keep = sp.cumsum(-1) - sp < float(top_p)
                    probs = torch.zeros_like(probs).scatter(-1, si, sp * keep)
                nxt = torch.multinomial(probs / probs.sum(-1, keepdim=True), 1)
            else:
                nxt = scores.argmax(-1, keepdim=True)
            seq = torch.cat((seq, nxt), dim=1)
            self._seq_cache = [seq[0].tolist()]
            step_input = nxt
            if streamer is not None:
                streamer.put(nxt[0].cpu())
            if int(nxt) in eos:
                break
            if stopping_criteria is not None and bool(stopping_criteria(seq, scores).all()):
                break
        if streamer is not None:
            streamer.end()
        return seq

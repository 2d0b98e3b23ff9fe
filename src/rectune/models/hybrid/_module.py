"""The torch module of `TextHybrid`: item vectors from ids and text, a causal user tower.

Top-level children are the parameter groups: ``user_factors`` (a user's lasting taste, added
to the sequence state), ``item_factors`` (id embeddings) and
``item_bias`` (id biases), ``content`` (MLP over the frozen encoder vector) and ``tokens``
(TF-IDF token bag), both giving ``embedding_size + 1`` outputs (a vector and a bias), then the
user tower's ``positions``, ``blocks`` and ``final_norm``. Item ``i``'s vector is
``g_i m_i id_i + content_i`` and its bias ``g_i m_i b_i + content_bias_i``, where ``g_i`` is the
id gate (0 for items without interactions) and ``m_i`` the DropoutNet mask (0 with probability
``id_dropout`` at each training step, 1 when scoring).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rectune.models.hybrid.config import TextHybridConfig
from rectune.models.neural.sasrec import CausalBlock


class HybridModule(torch.nn.Module):
    """See the module docstring; `forward` returns hidden states, item vectors and biases."""

    def __init__(
        self, n_users: int, n_items: int, text_dim: int, n_tokens: int, cfg: TextHybridConfig
    ) -> None:
        super().__init__()
        d = cfg.embedding_size
        self.user_factors = torch.nn.Embedding(n_users, d)
        torch.nn.init.normal_(self.user_factors.weight, std=0.1 * d**-0.5)
        self.item_factors = torch.nn.Embedding(n_items, d)
        torch.nn.init.normal_(self.item_factors.weight, std=0.5 * d**-0.5)
        self.item_bias = torch.nn.Embedding(n_items, 1)
        torch.nn.init.zeros_(self.item_bias.weight)
        self.content = torch.nn.Sequential(
            torch.nn.Linear(text_dim, cfg.content_hidden),
            torch.nn.GELU(),
            torch.nn.Linear(cfg.content_hidden, d + 1),
        )
        if n_tokens:
            self.tokens = torch.nn.EmbeddingBag(n_tokens, d + 1, mode="sum")
            torch.nn.init.zeros_(self.tokens.weight)
        self.positions = torch.nn.Embedding(cfg.max_length, d)
        torch.nn.init.normal_(self.positions.weight, std=0.02)
        self.blocks = torch.nn.ModuleList(
            CausalBlock(d, cfg.heads, cfg.dropout) for _ in range(cfg.blocks)
        )
        self.final_norm = torch.nn.LayerNorm(d)
        self.drop = torch.nn.Dropout(cfg.dropout)
        self.scale = math.sqrt(d)
        self.id_dropout = cfg.id_dropout
        # Derived from the item texts and counts, never saved (`TextHybrid._refresh`).
        self.register_buffer("text_x", torch.zeros(n_items, text_dim), persistent=False)
        self.register_buffer("gate", torch.zeros(n_items), persistent=False)
        self.bags: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def has_tokens(self) -> bool:
        return hasattr(self, "tokens")

    def content_part(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """(n, d + 1): the text's vector and bias of ``items`` (None: every item)."""
        x = self.text_x if items is None else self.text_x[items]
        out = self.content(x)
        if self.has_tokens and self.bags is not None:
            rows = None if items is None else items.numpy()
            idx, offsets, weights = gather_bags(self.bags, rows)
            out = out + self.tokens(idx, offsets, per_sample_weights=weights)
        return out

    def item_table(self, items: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors (n, d) and biases (n,) of ``items`` (None: every item), id parts dropped
        at random while training."""
        g = self.gate if items is None else self.gate[items]
        if self.training and self.id_dropout > 0:
            g = g * (torch.rand(len(g), device=g.device) >= self.id_dropout)
        c = self.content_part(items)
        ids = self.item_factors.weight if items is None else self.item_factors(items)
        bias = self.item_bias.weight[:, 0] if items is None else self.item_bias(items)[:, 0]
        return g[:, None] * ids + c[:, :-1], g * bias + c[:, -1]

    def encode(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Hidden states (batch, length, d) of right-aligned sequences of rows of ``table``,
        padded with -1."""
        real = (seq >= 0).unsqueeze(-1)
        x = table[seq.clamp(min=0)] * self.scale + self.positions.weight[-seq.shape[1] :]
        x = self.drop(x) * real
        n = seq.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=seq.device).tril()
        allowed = causal[None, :, :] & (seq >= 0)[:, None, :]
        mask = torch.zeros(allowed.shape, dtype=x.dtype, device=seq.device)
        mask = mask.masked_fill(~allowed, -1e9)[:, None]  # (b, 1, n, n), finite for pad rows
        for block in self.blocks:
            x = block(x, mask) * real
        return self.final_norm(x)

    def forward(
        self, seq: torch.Tensor, users: torch.Tensor, items: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """User vectors at every position of ``seq`` (indices into ``items``, or item indices
        when None) of ``users``, and the vectors and biases of ``items``."""
        vec, bias = self.item_table(items)
        return self.encode(seq, vec) + self.user_factors(users)[:, None, :], vec, bias


def gather_bags(
    csr: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EmbeddingBag inputs (indices, offsets, weights) of the given CSR rows (None: all)."""
    ptr, cols, w = csr
    if rows is None:
        rows = np.arange(len(ptr) - 1)
    start, lengths = ptr[rows], ptr[rows + 1] - ptr[rows]
    offsets = np.zeros(len(rows), dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)[:-1]
    pos = np.repeat(start - offsets, lengths) + np.arange(int(lengths.sum()))
    return (
        torch.from_numpy(cols[pos].astype(np.int64)),
        torch.from_numpy(offsets),
        torch.from_numpy(w[pos].astype(np.float32)),
    )

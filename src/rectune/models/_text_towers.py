"""Pieces of `TextRecommender`: the torch towers, sparse text tokens, histories, the trainer.

Kept apart from `rectune.models.text_rec` so the model file reads as the contract only.

- `Towers`: the module whose top-level children are the parameter groups ``encoder`` (the
  `TextEncoder`), ``adapter`` (residual MLP over encoder vectors), ``tokens`` (a sparse
  TF-IDF bag of the item text's words, genre phrases and decade, embedded into the same space)
  and ``user_adapter`` (residual MLP over the pooled history).  Both adapters start as the
  identity and the token table at zero, so an untrained model is the plain encoder.
- `TokenVocab`: words/phrases/decades of item texts with IDF weights (the hybrid dense +
  sparse item tower; a TF-IDF content model gets the year and genres "for free", so the
  tower gets them too).
- `recent_items`: each user's ``history`` most recent items, the user tower's input.
- `TextTrainer`: `TorchTrainer` with a separate step size for encoder weights (LoRA/full).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch

from rectune.training.torch_trainer import TorchTrainer

_WORD = re.compile(r"[^\W_]+")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


class Residual(torch.nn.Module):
    """``x + W2 relu(W1 x + b1) + b2`` with ``W2, b2`` at zero: the identity at start."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.inner = torch.nn.Linear(dim, hidden)
        self.outer = torch.nn.Linear(hidden, dim)
        torch.nn.init.zeros_(self.outer.weight)
        torch.nn.init.zeros_(self.outer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.outer(torch.relu(self.inner(x)))


class Towers(torch.nn.Module):
    """Item tower ``normalize(adapter(enc(text)) + tokens(bag))``, user tower
    ``normalize(user_adapter(pooled history))``; see the module docstring."""

    def __init__(self, encoder: torch.nn.Module, dim: int, hidden: int, n_tokens: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.adapter = Residual(dim, hidden)
        if n_tokens:
            self.tokens = torch.nn.EmbeddingBag(n_tokens, dim, mode="sum")
            torch.nn.init.zeros_(self.tokens.weight)
        self.user_adapter = Residual(dim, hidden)

    @property
    def has_tokens(self) -> bool:
        return hasattr(self, "tokens")

    def items(self, raw: torch.Tensor, bag: tuple[torch.Tensor, ...] | None) -> torch.Tensor:
        h = self.adapter(raw)
        if bag is not None and self.has_tokens:
            idx, offsets, weights = bag
            h = h + self.tokens(idx, offsets, per_sample_weights=weights)
        return torch.nn.functional.normalize(h, dim=-1)

    def users(self, pooled: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.user_adapter(pooled), dim=-1)


# ---------------------------------------------------------------------- sparse tokens
def text_tokens(text: str) -> set[str]:
    """Lower-cased words, multi-word comma phrases (``p:science fiction``) and decades."""
    t = text.lower()
    out = set(_WORD.findall(t))
    for seg in t.split("|"):
        seg = seg.split(":", 1)[1] if seg.strip().startswith("tags:") else seg
        for phrase in seg.split(","):
            p = " ".join(phrase.split())
            if " " in p and len(p) < 40:
                out.add("p:" + p)
    out.update("decade:" + y[:3] for y in _YEAR.findall(t))
    return out


class TokenVocab:
    """Token -> column with IDF weights, built from a catalogue's texts (df >= ``min_df``)."""

    def __init__(self, tokens: np.ndarray, idf: np.ndarray) -> None:
        self.tokens = tokens
        self.idf = idf.astype(np.float32)
        self.index = {t: i for i, t in enumerate(tokens.tolist())}
        self._memo: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def build(cls, texts: Sequence[str], max_tokens: int, min_df: int = 2) -> TokenVocab:
        counts: dict[str, int] = {}
        for text in texts:
            for tok in text_tokens(text):
                counts[tok] = counts.get(tok, 0) + 1
        kept = sorted((t for t, c in counts.items() if c >= min_df), key=lambda t: (-counts[t], t))
        kept = kept[:max_tokens]
        df = np.array([counts[t] for t in kept], dtype=np.float64)
        idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
        return cls(np.array(kept, dtype=str), idf)

    def __len__(self) -> int:
        return len(self.tokens)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        hit = self._memo.get(text)
        if hit is None:
            cols = np.array(sorted(self.index[t] for t in text_tokens(text) if t in self.index))
            cols = cols.astype(np.int64)
            w = self.idf[cols] if len(cols) else np.zeros(0, np.float32)
            norm = float(np.sqrt((w**2).sum()))
            hit = (cols, (w / norm).astype(np.float32) if norm > 0 else w)
            self._memo[text] = hit
        return hit

    def bags(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR (indptr, columns, L2-normalised TF-IDF weights) of ``texts``."""
        rows = [self.row(t) for t in texts]
        ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(r[0]) for r in rows])
        cols = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
        w = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
        return ptr, cols.astype(np.int64), w.astype(np.float32)


def gather_bags(
    csr: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EmbeddingBag inputs (indices, offsets, weights) for the given item rows."""
    ptr, cols, w = csr
    start, lengths = ptr[rows], ptr[rows + 1] - ptr[rows]
    offsets = np.zeros(len(rows), dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)[:-1]
    pos = np.repeat(start - offsets, lengths) + np.arange(int(lengths.sum()))
    return torch.from_numpy(cols[pos]), torch.from_numpy(offsets), torch.from_numpy(w[pos])


# ---------------------------------------------------------------------- histories
def recent_items(
    old: np.ndarray | None,
    users: np.ndarray,
    items: np.ndarray,
    order: np.ndarray,
    n_users: int,
    history: int,
) -> np.ndarray:
    """Each user's ``history`` most recent distinct items (most recent last, -1 padding).

    ``old`` (n_users_old x history) holds the previous state; the rows come after it, ranked
    by ``order`` (non-negative ranks, ties in row order).
    """
    parts = [pd.DataFrame({"u": users, "i": items, "t": order.astype(np.float64)})]
    if old is not None and old.size:
        r, c = np.nonzero(old >= 0)
        parts.insert(0, pd.DataFrame({"u": r, "i": old[r, c], "t": c - float(old.shape[1]) - 1.0}))
    frame = pd.concat(parts, ignore_index=True).sort_values(["u", "t"], kind="stable")
    frame = frame.drop_duplicates(["u", "i"], keep="last")
    frame = frame.groupby("u", sort=False).tail(history)
    out = np.full((n_users, history), -1, dtype=np.int64)
    u = frame["u"].to_numpy()
    rank_from_end = frame.groupby("u", sort=False).cumcount(ascending=False).to_numpy()
    out[u, history - 1 - rank_from_end] = frame["i"].to_numpy()
    return out


def history_weights(recent: np.ndarray, seen: Any, kind: str, mode: str) -> np.ndarray:
    """Pooling weight of each history slot: 1, the rating, or log1p(count) for weights."""
    w = np.zeros(recent.shape, dtype=np.float32)
    r, c = np.nonzero(recent >= 0)
    if not len(r):
        return w
    if mode == "uniform":
        w[r, c] = 1.0
        return w
    vals = np.asarray(seen[r, recent[r, c]]).ravel()
    w[r, c] = np.log1p(np.maximum(vals, 0.0)) if kind == "weight" else np.maximum(vals, 1e-3)
    return w


def pool(vectors: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean over the history axis: (B, H, d), (B, H) -> (B, d)."""
    den = weights.sum(1, keepdim=True).clamp(min=1e-6)
    return (vectors * weights.unsqueeze(-1)).sum(1) / den


# ---------------------------------------------------------------------- trainer
@contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic kernels while training (CPU scatter-adds otherwise race across threads,
    and a resumed run would not equal an uninterrupted one bit for bit)."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


class _ScaledAdam(torch.optim.Adam):
    """Adam whose parameter groups may carry an ``lr_mult`` (the encoder's smaller step)."""

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        saved = [g["lr"] for g in self.param_groups]
        for g in self.param_groups:
            g["lr"] = g["lr"] * g.get("lr_mult", 1.0)
        try:
            return super().step(closure)
        finally:
            for g, lr in zip(self.param_groups, saved, strict=True):
                g["lr"] = lr


class TextTrainer(TorchTrainer):
    """`TorchTrainer` with encoder weights stepped at ``encoder_mult`` times the rate."""

    def __init__(self, module: torch.nn.Module, *, encoder_mult: float, **kwargs: Any) -> None:
        super().__init__(module, **kwargs)
        enc = [p for n, p in self.trainable if n.startswith("encoder.")]
        rest = [p for n, p in self.trainable if not n.startswith("encoder.")]
        groups = [{"params": g, "lr_mult": m} for g, m in ((rest, 1.0), (enc, encoder_mult)) if g]
        self.optimizer = _ScaledAdam(
            groups, lr=self.base_lr, weight_decay=self.optimizer.defaults["weight_decay"]
        )

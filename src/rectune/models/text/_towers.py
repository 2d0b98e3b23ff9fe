"""Pieces of `TextRecommender`: the torch towers, token bags, histories, the trainer.

Kept apart from `rectune.models.text.text_rec` so the model file reads as the contract only.

- `Towers`: the module whose top-level children are the parameter groups ``encoder`` (the
  `TextEncoder`), ``adapter`` (residual MLP over encoder vectors), ``tokens`` (a sparse
  TF-IDF bag of the item text's words, genre phrases and decade, `rectune.text.tfidf.TokenVocab`,
  embedded into the same space) and ``user_adapter`` (residual MLP over the pooled history).
  Both adapters start as the identity and the token table at zero, so an untrained model is the
  plain encoder.
- `texts_of`, `merged_texts`: the catalogue's texts (``item <id>`` where there is none).
- `recent_items`: each user's ``history`` most recent items, the user tower's input.
- `TextTrainer`: `TorchTrainer` with a separate step size for encoder weights (LoRA/full).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch

from rectune.training.torch_trainer import TorchTrainer


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

    def forward(self, step: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Run a loss ``step`` that calls `items` and `users` as this module's forward pass, so
        a wrapper (DDP) sees one forward per batch and syncs the gradients of its backward."""
        return step()


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


# ---------------------------------------------------------------------- catalogue
def texts_of(ids: np.ndarray, item_text: pd.Series | None) -> np.ndarray:
    """Text of each raw id (``item <id>`` where ``item_text`` has none)."""
    out = [f"item {i}" for i in ids]
    if item_text is not None:
        found = item_text.reindex(ids)
        out = [str(t) if isinstance(t, str) else d for t, d in zip(found, out, strict=True)]
    return np.array(out, dtype=str)


def merged_texts(current: np.ndarray, ids: np.ndarray, item_text: pd.Series | None) -> np.ndarray:
    """``current`` texts (of ``ids[:len(current)]``) updated from ``item_text``, then the texts
    of the ids after them."""
    n_old = len(current)
    texts = list(current) + list(texts_of(ids[n_old:], item_text))
    if item_text is not None:
        known = np.flatnonzero(np.isin(ids[:n_old], np.asarray(item_text.index)))
        for i, t in zip(known, texts_of(ids[known], item_text), strict=True):
            texts[i] = t
    return np.array(texts, dtype=str)


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

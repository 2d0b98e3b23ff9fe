"""`SASRec`: self-attentive sequential recommendation, Kang & McAuley (2018), ICDM.

Each user's items in time order (the last ``max_length``) pass through ``item_factors`` plus
learned ``positions`` embeddings and a stack of causal self-attention blocks (``blocks``,
pre-LayerNorm, point-wise feed-forward, residuals, dropout) and a ``final_norm``. The hidden
state at position t predicts the item at t+1; the score of item i for a user is the last
position's hidden state dotted with ``item_factors[i]`` (the item table is shared between input
and output, as in the paper).

Training cuts every user's history into windows of ``max_length`` (so every event is a target
once per epoch) and uses the paper's binary cross-entropy with one sampled negative per position
(``loss="bce"``) or the full-catalogue softmax cross-entropy (``loss="ce"``; Petrov & Macdonald
2023, "gSASRec"/"Turning dross into gold loss", show it usually ranks better).

The model keeps each user's latest ``max_length`` items as state (``user_sequence``, padded with
-1), so the artifact alone recommends. `partial_fit` and `finetune` append the new events to the
users' sequences (by timestamp, else row order) and train on windows whose targets are the new
events; new users get a sequence from their events, new items grow the item table.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models.neural.torch_base import TORCH_STRATEGIES, TorchRecommender
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.torch_trainer import Batch

_ENCODE_BATCH = 1024


class SASRecConfig(ConfigBase):
    """Hyperparameters of `SASRec`."""

    embedding_size: int = Field(50, ge=1)
    """Width of the item and position embeddings and of every block."""
    max_length: int = Field(50, ge=1)
    """Most recent items a user's sequence keeps (the attention window)."""
    blocks: int = Field(2, ge=1)
    """Self-attention blocks."""
    heads: int = Field(1, ge=1)
    """Attention heads (must divide ``embedding_size``)."""
    dropout: float = Field(0.2, ge=0, lt=1)
    """Dropout on embeddings, attention weights and feed-forward outputs."""
    epochs: int = Field(30, ge=1)
    """Passes over the training windows."""
    learning_rate: float = Field(0.001, gt=0)
    """Adam step size."""
    weight_decay: float = Field(0.0, ge=0)
    """Adam L2 penalty."""
    batch_size: int = Field(128, ge=1)
    """Sequence windows per optimizer step."""
    loss: Literal["bce", "ce"] = "bce"
    """``bce``: one sampled negative per position (the paper); ``ce``: full softmax."""


class CausalBlock(torch.nn.Module):
    """Pre-LayerNorm causal self-attention and a point-wise feed-forward, with residuals
    (SASRec's block; `rectune.models.hybrid`'s user tower stacks the same one)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.norm2 = torch.nn.LayerNorm(d)
        self.ff = torch.nn.Sequential(
            torch.nn.Linear(d, d), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(d, d)
        )
        self.drop = torch.nn.Dropout(dropout)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads) + mask
        att = torch.nn.functional.dropout(att.softmax(-1), self.dropout, self.training)
        h = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.out(h))
        return x + self.drop(self.ff(self.norm2(x)))


class _SASRec(torch.nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        d = cfg.embedding_size
        self.item_factors = torch.nn.Embedding(n_items, d)
        torch.nn.init.normal_(self.item_factors.weight, std=d**-0.5)
        self.positions = torch.nn.Embedding(cfg.max_length, d)
        torch.nn.init.normal_(self.positions.weight, std=0.02)
        self.blocks = torch.nn.ModuleList(
            CausalBlock(d, cfg.heads, cfg.dropout) for _ in range(cfg.blocks)
        )
        self.final_norm = torch.nn.LayerNorm(d)
        self.drop = torch.nn.Dropout(cfg.dropout)
        self.scale = math.sqrt(d)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden states (batch, length, d) of right-aligned sequences padded with -1."""
        real = (seq >= 0).unsqueeze(-1)
        x = self.item_factors(seq.clamp(min=0)) * self.scale + self.positions.weight
        x = self.drop(x) * real
        n = seq.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=seq.device).tril()
        allowed = causal[None, :, :] & (seq >= 0)[:, None, :]
        mask = torch.zeros(allowed.shape, dtype=x.dtype, device=seq.device)
        mask = mask.masked_fill(~allowed, -1e9)[:, None]  # (b, 1, n, n), finite for pad rows
        for block in self.blocks:
            x = block(x, mask) * real
        return self.final_norm(x)


def windows(
    indptr: np.ndarray, items: np.ndarray, first_target: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training windows of grouped sequences: (inputs, targets), each (n_windows, length).

    Sequence ``u`` is ``items[indptr[u]:indptr[u+1]]``; positions ``>= first_target[u]`` (at least
    1) are targets, each exactly once, in windows cut from the end. Inputs are the items one step
    earlier. Padding and non-target positions are -1.
    """
    n = np.diff(indptr)
    ft = np.maximum(first_target, 1)
    count = np.where(n > ft, -(-(n - ft) // length), 0)
    owner = np.repeat(np.arange(len(n)), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    end = n[owner] - k * length
    pos = end[:, None] - length + np.arange(length)[None, :]
    base = indptr[owner][:, None]
    tgt = np.where(pos >= ft[owner][:, None], items[base + np.maximum(pos, 0)], -1)
    inp = np.where(pos >= 1, items[base + np.maximum(pos - 1, 0)], -1)
    return inp.astype(np.int64), tgt.astype(np.int64)


def _grouped(users: np.ndarray, items: np.ndarray, order_key: np.ndarray | None, n_users: int):  # type: ignore[no-untyped-def]
    """Items grouped by user (stable, in time order): (indptr, items)."""
    idx = np.arange(len(users))
    order = np.lexsort((idx, users)) if order_key is None else np.lexsort((idx, order_key, users))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return indptr, items[order].astype(np.int64)


class SASRec(TorchRecommender):
    """Self-attentive sequential recommender (causal transformer over each user's history).

    Examples
    --------
    >>> from rectune import Interactions
    >>> users = [1, 1, 1, 2, 2, 2]
    >>> items = ["a", "b", "c", "a", "b", "c"]
    >>> data = Interactions.from_raw(users, items, timestamps=[1, 2, 3, 1, 2, 3], kind="weight")
    >>> model = SASRec(embedding_size=8, max_length=4, epochs=2, dropout=0.0).fit(data)
    >>> model.param_groups
    ('item_factors', 'positions', 'blocks', 'final_norm')
    >>> model.user_sequence_.tolist()
    [[-1, 0, 1, 2], [-1, 0, 1, 2]]
    """

    name = "sasrec"
    config_class = SASRecConfig
    config: SASRecConfig
    predicts_ratings = False
    state_names: ClassVar[tuple[str, ...]] = ("user_sequence",)
    user_tables: ClassVar[tuple[str, ...]] = ()
    item_tables: ClassVar[tuple[str, ...]] = ("item_factors",)
    # Pseudo-labelled (user, item) pairs carry no order, so a sequence model cannot use them.
    supported_strategies = TORCH_STRATEGIES - {"augment=pseudo"}

    user_sequence_: np.ndarray
    _pending: tuple[np.ndarray, np.ndarray] | None = None
    _cache: np.ndarray | None = None

    def _build_module(self, n_users: int, n_items: int) -> torch.nn.Module:
        if self.config.embedding_size % self.config.heads:
            raise ConfigError("SASRec: heads must divide embedding_size")
        return _SASRec(n_items, self.config)

    # ------------------------------------------------------------------ sequences
    def _prepare_training(self, data: Interactions, train: TrainConfig) -> None:
        """Sequences and training windows of ``data`` (fit and `fit_distributed`)."""
        indptr, items = _grouped(data.users, data.items, data.timestamps, data.n_users)
        self.user_sequence_ = np.full((data.n_users, self.config.max_length), -1, np.int64)
        self._set_sequences(indptr, items, np.arange(data.n_users))
        ones = np.ones(data.n_users, np.int64)
        self._pending = windows(indptr, items, ones, self.config.max_length)

    def finish_training(self) -> None:
        super().finish_training()
        self._pending = None

    def _set_sequences(self, indptr: np.ndarray, items: np.ndarray, users: np.ndarray) -> None:
        """Store the last ``max_length`` items of the grouped sequences of ``users``."""
        length = self.config.max_length
        n = np.diff(indptr)
        pos = n[:, None] - length + np.arange(length)[None, :]
        at = np.minimum(indptr[:-1, None] + np.maximum(pos, 0), max(len(items) - 1, 0))
        seq = np.where(pos >= 0, items[at] if len(items) else -1, -1)
        self.user_sequence_[users] = seq

    def _extend(self, rows: Interactions) -> tuple[np.ndarray, np.ndarray]:
        """Append ``rows`` to their users' stored sequences; windows whose targets are new."""
        touched = np.unique(rows.users)
        ctx = self.user_sequence_[touched]
        n_ctx = (ctx >= 0).sum(axis=1)
        where = np.searchsorted(touched, rows.users)
        users = np.concatenate([np.repeat(np.arange(len(touched)), n_ctx), where])
        items = np.concatenate([ctx[ctx >= 0], rows.items.astype(np.int64)])
        key = None
        if rows.timestamps is not None:
            key = np.concatenate([np.full(n_ctx.sum(), np.iinfo(np.int64).min), rows.timestamps])
        else:
            key = np.concatenate([np.zeros(n_ctx.sum(), np.int64), np.ones(len(rows), np.int64)])
        indptr, grouped = _grouped(users, items, key, len(touched))
        self._set_sequences(indptr, grouped, touched)
        return windows(indptr, grouped, n_ctx, self.config.max_length)

    def epoch_arrays(self, data: Interactions, rng: np.random.Generator) -> dict[str, np.ndarray]:
        if self._pending is None:  # replayed rows only: their users' stored sequences
            raise RuntimeError("SASRec windows are prepared by fit/finetune/partial_fit")
        inp, tgt = self._pending
        arrays = {"seq": inp, "target": tgt}
        if self.config.loss == "bce":
            arrays["negative"] = rng.integers(0, len(self.item_map_), tgt.shape, dtype=np.int64)
        return arrays

    def batch_loss(self, batch: Batch, forward: torch.nn.Module) -> torch.Tensor:
        h = forward(batch["seq"])
        tgt = batch["target"]
        valid = tgt >= 0
        table = self.module_.item_factors.weight
        if self.config.loss == "ce":
            logits = h[valid] @ table.T
            return torch.nn.functional.cross_entropy(logits, tgt[valid])
        pos = (h * table[tgt.clamp(min=0)]).sum(-1)[valid]
        neg = (h * table[batch["negative"]]).sum(-1)[valid]
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        return bce(pos, torch.ones_like(pos)) + bce(neg, torch.zeros_like(neg))

    # ------------------------------------------------------------------ fine-tuning, updates
    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        super()._finetune_begin(ctx)
        new = ctx.data.subset(np.arange(ctx.n_new_rows))
        inp, tgt = self._extend(new)
        old_users = np.setdiff1d(np.unique(ctx.data.users[ctx.n_new_rows :]), new.users)
        if len(old_users):  # replayed users: their stored sequence, every position a target
            seq = self.user_sequence_[old_users]
            n = (seq >= 0).sum(axis=1)
            indptr = np.concatenate([[0], np.cumsum(n)])
            w = windows(indptr, seq[seq >= 0], np.ones(len(n), np.int64), self.config.max_length)
            inp, tgt = np.concatenate([inp, w[0]]), np.concatenate([tgt, w[1]])
        self._pending = (inp, tgt)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        super()._finetune_epoch(ctx, epoch, lr_scale)
        self._cache = None

    def _finetune_end(self, ctx: FinetuneContext) -> None:
        super()._finetune_end(ctx)
        self._pending = None

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        self._pending = self._extend(local)
        try:
            super()._partial_fit(local, new_users, new_items, train)
        finally:
            self._pending = None

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        super()._grow(local, new_users, new_items, init)
        pad = np.full((len(new_users), self.config.max_length), -1, np.int64)
        self.user_sequence_ = np.concatenate([self.user_sequence_, pad])
        self._cache = None

    # ------------------------------------------------------------------ scoring
    def _user_vectors(self) -> np.ndarray:
        """Last hidden state of every user's stored sequence (cached until the state changes)."""
        if self._cache is None:
            self.module_.eval()
            parts = []
            with torch.no_grad():
                for s in range(0, len(self.user_sequence_), _ENCODE_BATCH):
                    seq = torch.from_numpy(self.user_sequence_[s : s + _ENCODE_BATCH])
                    parts.append(self.module_(seq)[:, -1].numpy())
            d = self.config.embedding_size
            self._cache = np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, d))
        return self._cache

    def _item_table(self) -> np.ndarray:
        return self.module_.item_factors.weight.detach().numpy().astype(np.float64)

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self._user_vectors()[users], self._item_table()[items])

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._user_vectors()[users] @ self._item_table().T

    def _forward_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        h = self.module_(torch.from_numpy(self.user_sequence_)[users])[:, -1]
        return (h * self.module_.item_factors(items)).sum(-1)

    def _after_load(self) -> None:
        self._cache = None

    def _restore_state(self, state: dict[str, Any]) -> None:
        super()._restore_state(state)
        self._cache = None

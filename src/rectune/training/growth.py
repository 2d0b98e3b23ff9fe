"""Growing a fitted model for new users and items, and absorbing new rows (one place for both).

`grow` adds unseen ids to the model's maps, extends every user- or item-indexed state array
(`Tunable.row_axes`) with rows started by the strategy's ``new_ids`` (`RowInit`), and lets the
model grow anything else (neighbour tables, embedding tables, posterior samples) through its
``grow`` hook with the same `RowInit`. `absorb` merges rows into the seen matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from rectune.data.interactions import Interactions
from rectune.data.sparse import merge_csr
from rectune.errors import DataError
from rectune.training.hooks import ModelHooks, Tunable
from rectune.training.init import init_rows
from rectune.training.strategy import FinetuneStrategy

Side = Literal["user", "item"]


@dataclass
class RowInit:
    """How the rows of one growth step's new ids start (a strategy's ``new_ids`` setting)."""

    model: Tunable
    local: Interactions
    """The rows that brought the new ids, in the model's (grown) index space."""
    n_users0: int
    """Users known before this growth (new users follow them)."""
    n_items0: int
    method: str
    strategy: FinetuneStrategy
    _overlaps: tuple[sp.csr_matrix, sp.csr_matrix] | None = field(default=None, repr=False)

    def rows(self, known: np.ndarray, side: Side) -> np.ndarray:
        """Rows for the new ids of ``side`` given the ``known`` rows (first axis: entity)."""
        n0 = self.n_users0 if side == "user" else self.n_items0
        idmap = self.model.user_map_ if side == "user" else self.model.item_map_
        overlap = None
        if self.method == "neighbors":
            overlap = self.overlaps()[0 if side == "user" else 1]
        local = self.local
        return init_rows(
            self.method,
            known,
            len(idmap) - n0,
            features=local.user_features if side == "user" else local.item_features,
            known_ids=idmap.ids[:n0],
            new_ids=idmap.ids[n0:],
            overlap=overlap,
            neighbors=self.strategy.neighbors,
            what=side,
            texts=local.item_text if side == "item" else None,
            text_encoder=self.strategy.text_encoder,
        )

    def overlaps(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Co-interaction counts of new users with known users, new items with known items."""
        if self._overlaps is None:
            self._overlaps = overlaps(self.model, self.local, self.n_users0, self.n_items0)
        return self._overlaps


def grow(
    model: Tunable,
    hooks: ModelHooks,
    data: Interactions,
    method: str = "mean",
    strategy: FinetuneStrategy | None = None,
) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Add the data's unseen ids to the model's maps, grow its rows, map the data's rows.

    Returns the rows in the model's index space and the indices of the new users and items.
    """
    if len(data) == 0:
        raise DataError("no interactions to learn from")
    n_u0, n_i0 = len(model.user_map_), len(model.item_map_)
    users = model.user_map_.add(data.user_ids).astype(np.int32)
    items = model.item_map_.add(data.item_ids).astype(np.int32)
    local = data.reindexed(users, items, model.user_map_, model.item_map_, kind=model.data_kind_)
    new_u = np.arange(n_u0, len(model.user_map_))
    new_i = np.arange(n_i0, len(model.item_map_))
    if len(new_u) or len(new_i):
        init = RowInit(
            model, local, n_u0, n_i0, method, strategy or FinetuneStrategy(new_ids=method)
        )
        grow_rows(model, init)
        hooks.grow(local, new_u, new_i, init)
    return local, new_u, new_i


def grow_rows(model: Tunable, init: RowInit) -> None:
    """Extend every user- or item-indexed state array of the model (see `Tunable.row_axes`)."""
    n_u, n_i = len(model.user_map_), len(model.item_map_)
    for name, axes in model.row_axes().items():
        arr = getattr(model, name + "_")
        if axes in (("user",), ("item",)):
            side: Side = axes[0]  # type: ignore[assignment]
            n0 = init.n_users0 if side == "user" else init.n_items0
            if (n_u if side == "user" else n_i) > n0:
                setattr(model, name + "_", np.concatenate([arr, init.rows(arr[:n0], side)]))
        elif axes in (("item", "item"), ("user", "user")):
            n = n_i if axes[0] == "item" else n_u
            if arr.shape[0] < n:
                out = np.zeros((n, n), dtype=arr.dtype)
                out[: arr.shape[0], : arr.shape[1]] = arr
                setattr(model, name + "_", out)


def overlaps(
    model: Tunable, local: Interactions, n_u0: int, n_i0: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Co-interaction counts of new users with known users, and new items with known items."""
    shape = (len(model.user_map_), len(model.item_map_))
    new = sp.csr_matrix((np.ones(len(local)), (local.users, local.items)), shape=shape)
    old = model.seen_.copy()
    old.data = np.ones_like(old.data)
    old = sp.csr_matrix((old.data, old.indices, old.indptr), shape=(old.shape[0], old.shape[1]))
    old.resize(shape)
    both = (old + new).tocsr()
    both.data[:] = 1.0
    ov_u = (both[n_u0:] @ both[:n_u0].T).tocsr()
    both_t = both.T.tocsr()
    ov_i = (both_t[n_i0:] @ both_t[:n_i0].T).tocsr()
    return ov_u, ov_i


def absorb(model: Tunable, local: Interactions) -> None:
    """Merge rows into the model's seen matrix and popularity (ratings: the newest value wins).

    Linear in the stored interactions plus the new rows (a compiled merge), so a stream of small
    updates does not pay a sort of everything seen so far each time.
    """
    shape = (len(model.user_map_), len(model.item_map_))
    old = model.seen_
    ptr, idx, val = merge_csr(
        old.indptr,
        old.indices,
        old.data,
        shape[0],
        shape[1],
        local.users,
        local.items,
        local.values,
        model.data_kind_ == "rating",
    )
    model.seen_ = sp.csr_matrix((val, idx, ptr), shape=shape)
    model.item_popularity_ = np.bincount(idx, minlength=shape[1]).astype(float)

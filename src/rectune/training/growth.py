"""Growing a fitted model for new users and items, and absorbing new rows (one place for both).

`grow` adds unseen ids to the model's maps, extends every user- or item-indexed state array
(`Tunable.row_axes`) with rows started by the strategy's ``new_ids`` (`RowInit`), and lets the
model grow anything else (neighbour tables, embedding tables, posterior samples) through its
``grow`` hook with the same `RowInit`. `grow_items` does the same for catalogue items that
arrive with text or features and no interactions yet (`Recommender.add_items`): their rows are
final, nothing folds them in. `absorb` merges rows into the seen matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from rectune.data.interactions import Interactions
from rectune.data.sparse import merge_csr
from rectune.errors import ConfigError, DataError
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
    catalogue: bool = False
    """True for items added without interactions (`grow_items`): no fold-in replaces their
    rows later, so models whose updates re-solve everything (EASE) start them here."""
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


def grow_items(
    model: Tunable,
    hooks: ModelHooks,
    item_ids: Any,
    strategy: FinetuneStrategy,
    *,
    item_text: pd.Series | Mapping[Any, str] | None = None,
    item_features: pd.DataFrame | None = None,
) -> np.ndarray:
    """Add catalogue items that have no interactions yet; returns the indices of those added.

    Ids the model already knows are skipped. Rows start as ``strategy.new_ids`` says (``text``:
    the ridge map from text embeddings fitted on the known items, so ``item_text`` must cover
    known items too; ``features``: the same from ``item_features``), and are final: no event
    folds them in. Everything is checked before the model changes.
    """
    method = strategy.new_ids
    ids = unknown_item_ids(model, item_ids)
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    str_ids = model.item_map_.dtype == "str"
    text = _text_series(item_text, str_ids)
    features = _feature_frame(item_features, str_ids)
    check_item_sources(model, ids, strategy, text, features)
    hooks.check_new_items(ids, text, features, method)
    if method == "text" and not model.embeds_item_text:
        from rectune.text.text_init import get_encoder

        get_encoder(strategy.text_encoder)  # a bad encoder fails before the model changes
    n_u0, n_i0 = len(model.user_map_), len(model.item_map_)
    model.item_map_.add(ids)
    if text is not None:  # only the catalogue's text (content-kNN adds every id it is given)
        text = text[text.index.isin(model.item_map_.ids)]
    empty = np.zeros(0, dtype=np.int32)
    local = Interactions(
        empty,
        empty,
        np.zeros(0),
        model.user_map_,
        model.item_map_,
        kind=model.data_kind_,  # type: ignore[arg-type]
        item_text=text,
        item_features=features,
    )
    new_i = np.arange(n_i0, len(model.item_map_))
    init = RowInit(model, local, n_u0, n_i0, method, strategy, catalogue=True)
    grow_rows(model, init)
    hooks.grow(local, np.zeros(0, dtype=np.int64), new_i, init)
    absorb(model, local)  # the seen matrix and popularity get the new (empty) columns
    hooks.invalidate_caches()
    return new_i


def unknown_item_ids(model: Tunable, item_ids: Any) -> np.ndarray:
    """The distinct ids of ``item_ids`` the model does not know, first-seen order, typed as the
    model's ids (integer ids stay integers; anything else is a `DataError` naming the row)."""
    if isinstance(item_ids, str | bytes) or not hasattr(item_ids, "__iter__"):
        raise DataError(f"item_ids must be a sequence of item ids, got {item_ids!r}")
    raw = list(item_ids)
    as_int = model.item_map_.dtype == "int64"
    for pos, x in enumerate(raw):
        if x is None or (isinstance(x, float) and np.isnan(x)):
            raise DataError("missing item id", row=pos, field="item_id")
        if as_int and (isinstance(x, bool | np.bool_) or not isinstance(x, int | np.integer)):
            raise DataError(
                f"the model's item ids are integers, got {x!r}", row=pos, field="item_id"
            )
    arr = np.asarray(raw, dtype=np.int64) if as_int else np.array([str(x) for x in raw], object)
    arr = pd.unique(arr) if len(arr) else arr
    return arr[model.item_map_.index_of(arr) < 0]


def check_item_sources(
    model: Tunable,
    ids: np.ndarray,
    strategy: FinetuneStrategy,
    text: pd.Series | None,
    features: pd.DataFrame | None,
) -> None:
    """Refuse, naming what is missing, a start the text or features given cannot make."""
    method, name = strategy.new_ids, model.name
    known = model.item_map_.ids
    if model.embeds_item_text and strategy.text_encoder != "minilm":
        raise ConfigError(f"{name} embeds item text itself: text_encoder does not apply; drop it")
    if method == "text":
        have = _has_text(text, ids)
        if not have.all():
            raise ConfigError(
                f"add_items(new_ids='text'): {int((~have).sum())} of {len(ids)} new item(s) "
                f"have no text (first: {_first(ids[~have])!r}); give each a text or pick new_ids="
                "features/mean/zeros"
            )
        n_known = int(_has_text(text, known).sum())
        if not model.embeds_item_text and n_known < 2:
            raise ConfigError(
                f"{name}: new_ids='text' maps text to rows by a ridge fitted on the known "
                f"items, but the item text covers {n_known} of the {len(known)} known items "
                "(at least 2 needed): pass the known items' text too"
            )
    if method == "features":
        if features is None:
            raise ConfigError("add_items(new_ids='features') needs item_features")
        lacking = ids[~np.isin(ids, np.asarray(features.index))]
        if len(lacking):
            raise ConfigError(
                f"add_items(new_ids='features'): {len(lacking)} new item(s) have no row in "
                f"item_features (first: {_first(lacking)!r})"
            )
        n_known = int(np.isin(known, np.asarray(features.index)).sum())
        if n_known < 2:
            raise ConfigError(
                f"{name}: new_ids='features' maps features to rows by a ridge fitted on the "
                f"known items, but item_features covers {n_known} of the {len(known)} known "
                "items (at least 2 needed): pass the known items' features too"
            )


def _has_text(text: pd.Series | None, ids: np.ndarray) -> np.ndarray:
    if text is None:
        return np.zeros(len(ids), dtype=bool)
    found = text.reindex(pd.Index(ids)).to_numpy(dtype=object)
    return np.array([isinstance(t, str) and bool(t.strip()) for t in found], dtype=bool)


def _text_series(
    item_text: pd.Series | Mapping[Any, str] | None, str_ids: bool
) -> pd.Series | None:
    if item_text is None:
        return None
    if isinstance(item_text, Mapping):
        item_text = pd.Series(dict(item_text), dtype=object)
    if not isinstance(item_text, pd.Series):
        raise DataError(
            f"item_text must be a pandas Series or a mapping of item id to text, not "
            f"{type(item_text).__name__}"
        )
    item_text = _str_index(item_text) if str_ids else item_text
    _check_unique(item_text.index, "item_text")
    return item_text


def _feature_frame(item_features: pd.DataFrame | None, str_ids: bool) -> pd.DataFrame | None:
    if item_features is None:
        return None
    if not isinstance(item_features, pd.DataFrame):
        raise DataError(
            f"item_features must be a DataFrame indexed by item id, not "
            f"{type(item_features).__name__}"
        )
    item_features = _str_index(item_features) if str_ids else item_features
    _check_unique(item_features.index, "item_features")
    return item_features


def _str_index(obj: Any) -> Any:
    """``obj`` keyed by the ids as strings (a model with string ids: 7 and "7" are one id)."""
    if obj.index.dtype == object and all(isinstance(i, str) for i in obj.index):
        return obj
    out = obj.copy()
    out.index = pd.Index([str(i) for i in obj.index], dtype=object)
    return out


def _check_unique(index: pd.Index, what: str) -> None:
    dup = index[index.duplicated()]
    if len(dup):
        raise DataError(f"{what} lists item {_first(dup)!r} more than once", field="item_id")


def _first(values: np.ndarray | pd.Index) -> Any:
    """The first value as a plain Python scalar (readable in messages)."""
    return np.asarray(values)[:1].tolist()[0]

"""The state every `Recommender` shares: built from data, stored as artifact arrays; axes.

Besides its own ``state_names`` arrays a model stores the global mean, the rating range, item
popularity and the seen matrix under ``_``-prefixed keys (the artifact format of
`rectune.registry.artifacts`: keep these names, artifacts on disk use them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.data.sparse import compact, csr_from_pairs


def default_row_axes(state_names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``user_*`` arrays are user rows, ``item_*``/``implicit_*`` item rows, ``*_similarity``
    square matrices (of users or items)."""
    out: dict[str, tuple[str, ...]] = {}
    for name in state_names:
        if name.endswith("_similarity"):
            out[name] = ("user", "user") if name.startswith("user") else ("item", "item")
        elif name.startswith("user_"):
            out[name] = ("user",)
        elif name.startswith(("item_", "implicit_")):
            out[name] = ("item",)
    return out


def fit_base_state(model: Any, data: Interactions) -> Interactions:
    """Id maps compacted to the ids present in ``data``, and the shared state from its rows;
    returns the rows in the model's index space."""
    present_u, users = compact(data.users, data.n_users)
    present_i, items = compact(data.items, data.n_items)
    model.user_map_ = IdMap(data.user_map.ids[present_u])
    model.item_map_ = IdMap(data.item_map.ids[present_i])
    local = data.reindexed(users, items, model.user_map_, model.item_map_)
    model.global_mean_ = float(data.values.mean())
    model.rating_range_ = np.array([data.values.min(), data.values.max()], dtype=np.float64)
    indptr, indices, values = csr_from_pairs(local.users, local.items, local.values, local.n_users)
    model.seen_ = sp.csr_matrix((values, indices, indptr), shape=(local.n_users, local.n_items))
    model.item_popularity_ = np.bincount(local.items, minlength=local.n_items).astype(np.float64)
    model.data_kind_ = data.kind
    return local


def base_state(model: Any) -> dict[str, np.ndarray]:
    """The shared state of a fitted model as named arrays."""
    return {
        "_global_mean": np.array([model.global_mean_]),
        "_rating_range": model.rating_range_,
        "_item_popularity": model.item_popularity_,
        "_seen_indptr": model.seen_.indptr,
        "_seen_indices": model.seen_.indices,
        "_seen_data": model.seen_.data,
    }


def restore_base_state(
    model: Any, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
) -> None:
    """Set the shared state written by `base_state` (and the id maps and data kind)."""
    model.user_map_, model.item_map_ = user_map, item_map
    model.global_mean_ = float(state["_global_mean"][0])
    model.rating_range_ = state["_rating_range"]
    model.item_popularity_ = state["_item_popularity"]
    model.seen_ = sp.csr_matrix(
        (state["_seen_data"], state["_seen_indices"], state["_seen_indptr"]),
        shape=(len(user_map), len(item_map)),
    )
    model.data_kind_ = kind

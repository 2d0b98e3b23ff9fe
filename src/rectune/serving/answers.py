"""The answers of the read routes, computed from one `Live` model (pure functions, no HTTP).

Ids arrive as JSON integers or strings (path segments are always strings) and are converted
to the model's id type (`IdMap.dtype`): ``"42"`` is the integer 42 for a model with integer
ids, and any id is its string for a model with string ids. An id that cannot be one of the
model's is simply unknown. Ids are returned as the model holds them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from rectune.data.idmap import IdMap
from rectune.models.base import check_n
from rectune.serving.state import Live

_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]{0,18})")
#: The weight of a session item halves every this many items back from the latest one.
SESSION_HALF_LIFE = 5.0


def as_model_id(raw: int | str, idmap: IdMap) -> int | str:
    """``raw`` as an id of ``idmap``'s type (unconvertible ids stay as given: unknown)."""
    if idmap.dtype == "int64":
        if isinstance(raw, int):
            return raw
        if _CANONICAL_INT.fullmatch(raw) and -(2**63) <= int(raw) < 2**63:
            return int(raw)
        return raw
    return str(raw)


def _id_array(ids: Sequence[int | str], idmap: IdMap) -> np.ndarray:
    arr = np.empty(len(ids), dtype=object)
    arr[:] = [as_model_id(x, idmap) for x in ids]
    return arr


def _json_id(x: Any) -> int | str:
    return int(x) if isinstance(x, int | np.integer) else str(x)


def _items(ids: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    """``[{"item_id", "score"}]`` of one ranked row; empty slots (score -inf) are dropped."""
    return [
        {"item_id": _json_id(i), "score": float(s)}
        for i, s in zip(ids.tolist(), scores.tolist(), strict=True)
        if np.isfinite(s)
    ]


def recommend_users(live: Live, users: Sequence[int | str], n: int) -> list[dict[str, Any]]:
    """One recommendation per user (`Recommender.recommend`: seen items excluded); an
    unknown user gets the most popular items with ``fallback`` true."""
    model = live.model
    arr = _id_array(users, model.user_map_)
    check_n(n)
    idx = model.user_map_.index_of(arr)
    unknown = idx < 0
    found, scores = model.recommend_indices(idx, n)  # `recommend` on the indices looked up
    ids = model.item_map_.ids[np.maximum(found, 0)]
    return [
        {
            "user_id": _json_id(arr[k]),
            "items": _items(ids[k], scores[k]),
            "model_version": live.version,
            "fallback": bool(unknown[k]),
        }
        for k in range(len(arr))
    ]


def _popular(live: Live, n: int, exclude: np.ndarray) -> list[dict[str, Any]]:
    pop = np.asarray(live.model.item_popularity_, dtype=np.float64).copy()
    pop[exclude] = -np.inf
    top = np.argsort(-pop, kind="stable")[:n]
    return _items(live.model.item_map_.ids[top], pop[top])


def recommend_session(live: Live, items: Sequence[int | str], n: int) -> dict[str, Any]:
    """Top items for an anonymous session given its recent items (oldest first).

    The model has no session method, so this scores by its item similarities: each known
    session item contributes its ``max(n, 50)`` most similar items (`similar_items`) with
    their similarity, weighted by recency (the weight halves every `SESSION_HALF_LIFE` items
    back from the latest); an item's score is the weighted sum, the session's own items are
    excluded. With no known session item, or a model without item similarities, the most
    popular items answer and ``fallback`` is true.
    """
    model = live.model
    imap = model.item_map_
    arr = _id_array(items, imap)
    idx = imap.index_of(arr)
    known = idx >= 0
    seen = idx[known]
    out = {"user_id": None, "model_version": live.version}
    if not known.any() or not live.similarities:
        return {**out, "items": _popular(live, n, seen), "fallback": True}
    k = min(len(imap), max(n, 50))
    nb_ids, nb_scores = model.similar_items(arr[known], n=k)
    age = (len(arr) - 1 - np.flatnonzero(known)).astype(np.float64)
    weight = 0.5 ** (age / SESSION_HALF_LIFE)
    nb_idx = imap.index_of(nb_ids.ravel()).reshape(nb_ids.shape)
    ok = np.isfinite(nb_scores) & (nb_idx >= 0)
    total = np.zeros(len(imap))
    touched = np.zeros(len(imap), dtype=bool)
    rows = np.broadcast_to(weight[:, None], nb_scores.shape)
    np.add.at(total, nb_idx[ok], rows[ok] * nb_scores[ok])
    touched[nb_idx[ok]] = True
    total[~touched] = -np.inf
    total[seen] = -np.inf
    top = np.argsort(-total, kind="stable")[:n]
    return {**out, "items": _items(imap.ids[top], total[top]), "fallback": False}


def similar(live: Live, item: int | str, n: int) -> dict[str, Any] | None:
    """The ``n`` items most similar to ``item`` (None: unknown item). A model without item
    similarities raises `ConfigError`."""
    model = live.model
    arr = _id_array([item], model.item_map_)
    if model.item_map_.index_of(arr)[0] < 0:
        return None
    ids, scores = model.similar_items(arr, n=n)
    return {
        "item_id": _json_id(arr[0]),
        "items": _items(ids[0], scores[0]),
        "model_version": live.version,
    }

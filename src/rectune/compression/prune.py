"""Pruning: kNN neighbour lists cut to the top-k per entity, small EASE weights dropped.

kNN (rating data, or implicit data with ``implicit_neighbors="query"``): the model's dense
similarity matrix keeps, in each row (the neighbourhood of that user or item), the ``top_k``
largest similarities; the others become 0, which the scoring kernels ignore (only similarities
above ``min_sim >= 0`` count), so a prediction uses at most the ``top_k`` nearest neighbours of
the target among the user's items (Sarwar et al. 2001, "Item-based collaborative filtering
recommendation algorithms", model size ``k``). EASE: the item-item weights keep those with
``|w| >= threshold``, or the ``keep_fraction`` of the nonzero weights with the largest
magnitude (ties kept). The pruned
matrix is stored sparse and densified on load.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rectune.compression._record import check_options, copy_model, finish, refuse
from rectune.models.base import Recommender


def prune(model: Recommender, **options: Any) -> Recommender:
    """``model`` pruned as its family allows; see the module documentation."""
    if model.name == "ease":
        return _prune_ease(model, **options)
    return _prune_knn(model, **options)


def top_k_rows(sim: np.ndarray, k: int) -> np.ndarray:
    """``sim`` with all but the ``k`` largest positive off-diagonal entries of each row zeroed
    (the diagonal kept).

    Examples
    --------
    >>> top_k_rows(np.array([[1.0, 0.2, 0.5], [0.1, 1.0, 0.3], [0.4, 0.6, 1.0]]), 1).tolist()
    [[1.0, 0.0, 0.5], [0.0, 1.0, 0.3], [0.0, 0.6, 1.0]]
    """
    out = np.array(sim, copy=True)
    n = out.shape[0]
    diag = np.diagonal(out).copy() if out.shape[0] == out.shape[1] else None
    work = np.where(out > 0, out, -np.inf)
    if diag is not None:
        work[np.diag_indices(n)] = -np.inf
    if k < out.shape[1]:
        drop = np.argpartition(-work, k, axis=1)[:, k:]
        np.put_along_axis(out, drop, 0.0, axis=1)
    out[~np.isfinite(work) & (out != 0)] = 0.0  # non-positive similarities never count
    if diag is not None:
        out[np.diag_indices(n)] = diag
    return out


def _prune_knn(model: Recommender, **options: Any) -> Recommender:
    check_options(model, "prune", options, ("top_k",))
    if getattr(model, "pruned", False):
        raise refuse(
            model,
            "prune",
            "it already keeps only n_neighbors per entity (implicit_neighbors='pruned'); "
            "refit with a smaller n_neighbors",
        )
    k = options.get("top_k")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise refuse(model, "prune", f"option top_k must be a positive integer, got {k!r}")
    key = model.sim_name  # type: ignore[attr-defined]
    state = model.get_state()
    new_state = {**state, key: top_k_rows(np.asarray(state[key]), k)}
    return finish(model, copy_model(model, new_state), "prune", options, {key: "sparse"})


def _prune_ease(model: Recommender, **options: Any) -> Recommender:
    check_options(model, "prune", options, ("threshold", "keep_fraction"))
    if len(options) != 1:
        raise refuse(model, "prune", "give exactly one of threshold or keep_fraction")
    state = model.get_state()
    w = np.asarray(state["item_similarity"])
    mag = np.abs(w)
    if "threshold" in options:
        t = float(options["threshold"])
        if not t >= 0:
            raise refuse(model, "prune", f"option threshold must be >= 0, got {t}")
    else:
        f = float(options["keep_fraction"])
        if not 0 < f <= 1:
            raise refuse(model, "prune", f"option keep_fraction must be in (0, 1], got {f}")
        off = mag[mag > 0]  # of the nonzero weights (the diagonal is 0)
        t = float(np.quantile(off, 1.0 - f)) if off.size else 0.0
    pruned = np.where(mag >= t, w, 0).astype(w.dtype)
    new_state = {**state, "item_similarity": pruned}
    plan = {"item_similarity": "sparse", "gram": "seen_gram"}
    kept = float(np.count_nonzero(pruned) / max(1, np.count_nonzero(w)))
    return finish(
        model, copy_model(model, new_state), "prune", options, plan, threshold=t, kept=kept
    )

"""Pure, vectorised evaluation metrics: rating errors, top-K ranking quality, coverage.

Ranking metrics take a 2D integer array of recommended item indices per user (best first,
``-1`` for padding, which is never relevant) and the relevant items of each user (a CSR matrix
with one row per recommendation row, or a list of index arrays). Every ranking metric returns one
value per user, so two models can later be compared with a paired bootstrap; take ``.mean()`` for
the summary. Relevance is binary. A user with no relevant items scores 0 on every ranking metric;
`rectune.evaluation.evaluate` only ranks users that have at least one relevant test item.

Recommendation lists are assumed free of duplicate items (as `Recommender.recommend_indices`
returns them); a list shorter than K counts the missing positions as misses. Metric names and
their parsing live in `rectune.evaluation.metric_names` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.errors import ConfigError
from rectune.evaluation.metric_names import (
    CATALOGUE_METRICS,
    METRIC_ALIASES,
    RANKING_METRICS,
    RATING_METRICS,
    MetricKind,
    MetricSpec,
    parse_metric,
    parse_metrics,
    valid_metric_names,
)


# ---------------------------------------------------------------------------- rating metrics
def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error of rating estimates.

    Examples
    --------
    >>> rmse([3, 4, 5], [3, 4, 2])
    1.7320508075688772
    """
    err = _errors(y_true, y_pred)
    return float(np.sqrt(np.mean(err * err))) if err.size else float("nan")


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error of rating estimates.

    Examples
    --------
    >>> mae([3, 4, 5], [3, 5, 2])
    1.3333333333333333
    """
    err = _errors(y_true, y_pred)
    return float(np.mean(np.abs(err))) if err.size else float("nan")


def _errors(y_true: Any, y_pred: Any) -> np.ndarray:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} != {p.shape}")
    return p - t


def rating_metric(base: str, errors: np.ndarray) -> float:
    """``rmse`` or ``mae`` from per-pair errors (estimate minus truth)."""
    if errors.size == 0:
        return float("nan")
    if base == "rmse":
        return float(np.sqrt(np.mean(errors * errors)))
    if base == "mae":
        return float(np.mean(np.abs(errors)))
    raise ConfigError(f"{base!r} is not a rating metric; rating metrics: {RATING_METRICS}")


# ---------------------------------------------------------------------------- relevance
Relevant = sp.spmatrix | sp.sparray | Sequence[Any]


def relevance_csr(relevant: Relevant, n_rows: int | None = None) -> sp.csr_matrix:
    """Relevant sets as a binary CSR matrix (rows = users, stored non-zeros = relevant)."""
    if sp.issparse(relevant):
        m = sp.csr_matrix(relevant, dtype=np.float64, copy=True)
        m.sum_duplicates()
        m.eliminate_zeros()
        m.data[:] = 1.0
    else:
        rows = [np.asarray(r, dtype=np.int64).ravel() for r in relevant]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        if indices.size and indices.min() < 0:
            raise ValueError("relevant item indices must be >= 0")
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        n_cols = int(indices.max()) + 1 if indices.size else 0
        m = sp.csr_matrix(
            (np.ones(indices.size), indices, indptr), shape=(len(rows), n_cols), copy=False
        )
        m.sum_duplicates()
        m.data[:] = 1.0
    if n_rows is not None and m.shape[0] != n_rows:
        raise ValueError(f"relevant has {m.shape[0]} rows but there are {n_rows} ranked users")
    return m


def hit_matrix(
    recommended: Any, relevant: Relevant, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean hits of the top-``k`` recommendations and the number of relevant items per user.

    Returns ``(hits, n_relevant)`` with ``hits`` of shape ``(n_users, k)`` (lists shorter than
    ``k`` are padded with misses) and ``n_relevant`` of shape ``(n_users,)``.

    Examples
    --------
    >>> hits, n_rel = hit_matrix([[3, 1, -1]], [[1, 2]], k=4)
    >>> hits.astype(int).tolist(), n_rel.tolist()
    ([[0, 1, 0, 0]], [2])
    """
    rec = np.asarray(recommended, dtype=np.int64)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2D (users x positions), got shape {rec.shape}")
    rel = relevance_csr(relevant, rec.shape[0])
    k = rec.shape[1] if k is None else int(k)
    if k < 1:
        raise ValueError("k must be at least 1")
    top = rec[:, :k]
    n_cols = max(rel.shape[1], int(top.max()) + 1 if top.size else 0, 1)
    # Sorted (row, item) keys of the relevant entries; look every recommendation up at once.
    rel_keys = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr)) * n_cols
    rel_keys += rel.indices
    rel_keys.sort()
    keys = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_cols + top
    pos = np.searchsorted(rel_keys, keys)
    found = np.zeros(keys.shape, dtype=bool)
    if rel_keys.size:
        found = rel_keys[np.minimum(pos, rel_keys.size - 1)] == keys
    found &= top >= 0
    if found.shape[1] < k:
        found = np.pad(found, ((0, 0), (0, k - found.shape[1])))
    return found, np.diff(rel.indptr).astype(np.int64)


# ---------------------------------------------------------------------------- ranking metrics
def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _precision(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / hits.shape[1]


def _recall(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return _safe_div(hits.sum(axis=1).astype(np.float64), n_rel)


def _f1(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    p, r = _precision(hits, n_rel), _recall(hits, n_rel)
    return _safe_div(2 * p * r, p + r)


def _ndcg(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    disc = _discounts(k)
    dcg = hits @ disc
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k)]
    return _safe_div(dcg, ideal)


def _map(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    prec_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return _safe_div((prec_at * hits).sum(axis=1), np.minimum(n_rel, k))


def _mrr(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def _hr(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return hits.any(axis=1).astype(np.float64)


_RANKING_FUNCS = {
    "precision": _precision,
    "recall": _recall,
    "f1": _f1,
    "ndcg": _ndcg,
    "map": _map,
    "mrr": _mrr,
    "hr": _hr,
}


def precision_at_k(recommended: Any, relevant: Relevant, k: int) -> np.ndarray:
    """Per-user fraction of the top-``k`` that is relevant (hits / k).

    Examples
    --------
    >>> precision_at_k([[1, 5, 2, 7]], [[1, 2, 3]], k=4).tolist()
    [0.5]
    """
    return _precision(*hit_matrix(recommended, relevant, k))


def recall_at_k(recommended: Any, relevant: Relevant, k: int) -> np.ndarray:
    """Per-user fraction of the relevant items found in the top-``k``.

    Examples
    --------
    >>> recall_at_k([[1, 5, 2, 7]], [[1, 2, 3]], k=2).tolist()
    [0.3333333333333333]
    """
    return _recall(*hit_matrix(recommended, relevant, k))


def f1_at_k(recommended: Any, relevant: Relevant, k: int) -> np.ndarray:
    """Per-user harmonic mean of precision@k and recall@k (0 when both are 0).

    Examples
    --------
    >>> f1_at_k([[1, 5]], [[1, 2]], k=2).tolist()
    [0.5]
    """
    return _f1(*hit_matrix(recommended, relevant, k))


def ndcg_at_k(recommended: Any, relevant: Relevant, k: int) -> np.ndarray:
    """Per-user normalised discounted cumulative gain with binary relevance.

    DCG sums ``1 / log2(rank + 1)`` over the hits; the ideal DCG places ``min(k, |relevant|)``
    hits at the top (Järvelin & Kekäläinen 2002).

    Examples
    --------
    >>> ndcg_at_k([[0, 1], [1, 0]], [[0], [0]], k=2).round(4).tolist()
    [1.0, 0.6309]
    """
    return _ndcg(*hit_matrix(recommended, relevant, k))


def average_precision_at_k(recommended: Any, relevant: Relevant, k: int) -> np.ndarray:
    """Per-user AP@k: precision at each hit, summed and divided by ``min(k, |relevant|)``.

    The mean over users is MAP@k.

    Examples
    --------
    >>> average_precision_at_k([[1, 9, 2]], [[1, 2]], k=3).round(4).tolist()
    [0.8333]
    """
    return _map(*hit_matrix(recommended, relevant, k))


def reciprocal_rank_at_k(recommended: Any, relevant: Relevant, k: int) -> np.ndarray:
    """Per-user 1 / rank of the first relevant item in the top-``k`` (0 if none); mean is MRR.

    Examples
    --------
    >>> reciprocal_rank_at_k([[9, 8, 2], [2, 1, 0]], [[2], [7]], k=3).tolist()
    [0.3333333333333333, 0.0]
    """
    return _mrr(*hit_matrix(recommended, relevant, k))


def hit_rate_at_k(recommended: Any, relevant: Relevant, k: int) -> np.ndarray:
    """Per-user 1 if any of the top-``k`` is relevant, else 0.

    Examples
    --------
    >>> hit_rate_at_k([[9, 8, 2], [2, 1, 0]], [[2], [7]], k=2).tolist()
    [0.0, 0.0]
    """
    return _hr(*hit_matrix(recommended, relevant, k))


def coverage_at_k(recommended: Any, k: int, n_items: int) -> float:
    """Fraction of the ``n_items`` catalogue recommended to at least one user in a top-``k``.

    Examples
    --------
    >>> coverage_at_k([[0, 1], [0, 2], [-1, -1]], k=1, n_items=4)
    0.25
    """
    rec = np.asarray(recommended, dtype=np.int64)[:, :k]
    if n_items <= 0:
        return float("nan")
    shown = np.unique(rec[(rec >= 0) & (rec < n_items)])
    return float(shown.size / n_items)


def ranking_metrics(
    recommended: Any,
    relevant: Relevant,
    metrics: Iterable[str | MetricSpec],
    *,
    n_items: int | None = None,
) -> dict[str, np.ndarray]:
    """Several ranking metrics at once, sharing the hit lookup.

    Returns per-user arrays keyed by canonical name for ranking metrics; catalogue metrics
    (coverage, which needs ``n_items``) give a 0-d array. Rating metrics are not accepted here.

    Examples
    --------
    >>> out = ranking_metrics([[1, 0], [2, 3]], [[0], [0, 3]], ["ndcg@2", "hit@1"], n_items=4)
    >>> {k: v.round(3).tolist() for k, v in out.items()}
    {'ndcg@2': [0.631, 0.387], 'hr@1': [0.0, 0.0]}
    """
    specs = [m if isinstance(m, MetricSpec) else parse_metric(m) for m in metrics]
    rec = np.asarray(recommended, dtype=np.int64)
    rel = relevance_csr(relevant, rec.shape[0])
    out: dict[str, np.ndarray] = {}
    ks = [s.k for s in specs if s.kind == "ranking" and s.k is not None]
    if ks:
        hits, n_rel = hit_matrix(rec, rel, max(ks))
    for spec in specs:
        if spec.kind == "rating":
            raise ConfigError(f"{spec.name} is a rating metric, not a ranking metric")
        assert spec.k is not None
        if spec.kind == "catalogue":
            if n_items is None:
                raise ConfigError(f"{spec.name} needs the catalogue size n_items")
            out[spec.name] = np.asarray(coverage_at_k(rec, spec.k, n_items))
        else:
            out[spec.name] = _RANKING_FUNCS[spec.base](hits[:, : spec.k], n_rel)
    return out


def mean_metrics(per_user: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mean of each per-user array (NaN for an empty one)."""
    return {name: float(np.mean(v)) if np.size(v) else float("nan") for name, v in per_user.items()}


__all__ = [
    "CATALOGUE_METRICS",
    "METRIC_ALIASES",
    "RANKING_METRICS",
    "RATING_METRICS",
    "MetricKind",
    "MetricSpec",
    "average_precision_at_k",
    "coverage_at_k",
    "f1_at_k",
    "hit_matrix",
    "hit_rate_at_k",
    "mae",
    "mean_metrics",
    "ndcg_at_k",
    "parse_metric",
    "parse_metrics",
    "precision_at_k",
    "ranking_metrics",
    "rating_metric",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "relevance_csr",
    "rmse",
    "valid_metric_names",
]

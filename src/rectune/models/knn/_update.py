"""Incremental updates and fine-tuning steps of the kNN models.

Everything here works on a fitted `rectune.models.knn.knn.KNNBase` (called ``m``) through its
neighbour lists ``rated_*`` (y-major: for item-kNN the items of each user, in data order),
which are the model's copy of the training data; similarities come from `_similarity`.

Incremental updates (`merge_events`, `refresh_rows`) keep dense float32 pair accumulators
``m.pair_stats_`` of shape ``(n_stats, n_x, n_x)`` (see `_knn_stats`; 1 to 4 statistics by
measure: memory ``4 * n_stats * n_x**2`` bytes, e.g. 34 MB for the 1,682 items of MovieLens
100K with cosine, 1.1 GB for 9,742 items) and the value each rating contributed,
``m.pair_values_``. They are built at the first update from the neighbour lists (as costly as a
refit, once) and saved with the model from then on. An update subtracts the contribution of
replaced ratings, adds the new ones, and recomputes only the similarity rows it touched.
Pruned neighbourhoods (implicit data) keep no accumulators: an update recomputes, with the fit's
sparse kernel, the table rows of the touched x's and of every x co-occurring with one (their
top-k may have moved), so the result is bit-identical to a refit; its cost is that share of a
refit (with popular touched items, most of it).

Approximations, by design: with ``pearson_baseline`` the accumulated values are baseline
residuals ``r - mu - b_u - b_i`` with the biases of the time they were added; folding in new
events moves the biases of the users and items they touch, so older residuals go slightly stale
(a refit recomputes them all). The biases themselves are folded in by closed-form steps for the
touched rows only (as `Baseline.partial_fit`) rather than refitted. Every other similarity does
not depend on the biases and equals a refit's (bit for bit on counts or integer ratings).
With ``weighting`` (TF-IDF, BM25) every weight depends on global counts, so an update recomputes
the whole similarity from the updated lists (exact, not incremental).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from rectune.models._shared import als_bias_rows
from rectune.models.knn import _kernels as K
from rectune.models.knn import _stats as S
from rectune.models.knn._similarity import (
    amplify,
    full_similarity,
    indptr_of,
    lists,
    means_of,
    options,
    refresh_pruned,
    sizes,
    stat_values,
    table_width,
)
from rectune.training.hooks import FinetuneContext

if TYPE_CHECKING:
    from rectune.models.knn.knn import KNNBase

#: Pair statistics each measure needs (co-count, products, squares, sums).
N_STATS = {K.COSINE: 3, K.MSD: 3, K.PEARSON: 4, K.PEARSON_BASELINE: 3, K.JACCARD: 1}
N_STATS.update({K.COSINE_FULL: 2, K.DOT: 2})


def grow_table(m: KNNBase, n_x: int) -> None:
    """Empty neighbour-table rows for new x's (wider while ``n_neighbors`` exceeds n_x - 1)."""
    assert m.neighbors_ is not None
    nbr, val = m.neighbors_, getattr(m, m.sim_name + "_")
    shape = (n_x, max(table_width(m, n_x), nbr.shape[1]))
    m.neighbors_ = np.full(shape, -1, dtype=np.int32)
    m.neighbors_[: nbr.shape[0], : nbr.shape[1]] = nbr
    grown = np.zeros(shape, dtype=np.float32)
    grown[: nbr.shape[0], : nbr.shape[1]] = val
    setattr(m, m.sim_name + "_", grown)


def ensure_stats(m: KNNBase) -> None:
    """Build the pair accumulators from the neighbour lists if the model has none yet."""
    if m.pair_stats_ is not None or m.config.weighting != "none" or m.pruned:
        return
    n_x, n_y = sizes(m)
    xs, ys, vals = lists(m)
    values = stat_values(m, xs, ys, vals)
    stats = np.zeros((N_STATS[m.measure_code()], n_x, n_x), dtype=np.float32)
    empty = np.zeros(0, dtype=np.int64)
    S.stats_delta(
        stats, np.arange(n_y), np.zeros(n_y + 1, dtype=np.int64), empty, empty.astype(float),
        m.rated_indptr_, m.rated_indices_.astype(np.int64), values, 1.0,
    )  # fmt: skip
    m.pair_stats_, m.pair_values_ = stats, values


def merge_events(m: KNNBase, users: np.ndarray, items: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Add events to the neighbour lists and the accumulators; returns the touched x rows.

    A (user, item) pair already in the lists is replaced (the newest value wins); within the
    events the last occurrence wins.
    """
    x, y = (users, items) if m.user_based else (items, users)
    x, y = x.astype(np.int64), y.astype(np.int64)
    vals = np.asarray(vals, dtype=np.float64)
    n_x, n_y = sizes(m)
    key = y * n_x + x
    _, last = np.unique(key[::-1], return_index=True)
    keep = np.sort(len(key) - 1 - last)
    x, y, vals, key = x[keep], y[keep], vals[keep], key[keep]
    old_x, old_y, old_v = lists(m)
    removed = np.isin(old_y * n_x + old_x, key)
    stats = m.pair_stats_
    new_sv = stat_values(m, x, y, vals) if stats is not None else None
    touched_y = np.unique(y)
    in_t = np.isin(old_y, touched_y)
    unchanged = in_t & ~removed
    if stats is not None:
        assert new_sv is not None and m.pair_values_ is not None
        t_of = lambda ys: np.searchsorted(touched_y, ys)  # noqa: E731
        u_ptr = indptr_of(t_of(old_y[unchanged]), len(touched_y))
        u_x, u_v = old_x[unchanged], m.pair_values_[unchanged]
        r_ptr = indptr_of(t_of(old_y[removed]), len(touched_y))
        S.stats_delta(stats, touched_y, u_ptr, u_x, u_v, r_ptr, old_x[removed],
                      m.pair_values_[removed], -1.0)  # fmt: skip
        order = np.argsort(y, kind="stable")
        n_ptr = indptr_of(t_of(y), len(touched_y))
        S.stats_delta(stats, touched_y, u_ptr, u_x, u_v, n_ptr, x[order], new_sv[order], 1.0)
    # merged lists: the kept old entries in their order, then the events, y-major (stable)
    all_y = np.concatenate([old_y[~removed], y])
    order = np.argsort(all_y, kind="stable")
    m.rated_indptr_ = indptr_of(all_y, n_y)
    m.rated_indices_ = np.concatenate([old_x[~removed], x])[order].astype(np.int32)
    m.rated_values_ = np.concatenate([old_v[~removed], vals])[order]
    if stats is not None:
        assert new_sv is not None and m.pair_values_ is not None
        m.pair_values_ = np.concatenate([m.pair_values_[~removed], new_sv])[order]
    update_means(m)
    return np.unique(np.concatenate([old_x[in_t], x]))


def update_means(m: KNNBase) -> None:
    """Per-user and per-item mean values from the neighbour lists."""
    xs, ys, vals = lists(m)
    us, its = (xs, ys) if m.user_based else (ys, xs)
    m.user_mean_ = means_of(us, vals, len(m.user_map_), m.global_mean_)
    m.item_mean_ = means_of(its, vals, len(m.item_map_), m.global_mean_)


def refresh_rows(
    m: KNNBase, rows: np.ndarray, n_chunks: int, lam: float = 0.0, anchor: Any = None
) -> None:
    """Recompute the similarity of the touched ``rows``; with ``lam`` shrink toward ``anchor``.

    L2-SP on a similarity is ``s = (n s_new + lam s_parent) / (n + lam)`` per pair, ``n`` its
    co-support on the combined data, so a huge lambda keeps the parent. Pruned neighbourhoods:
    `refresh_pruned` (``anchor`` the parent's ``(nbr, val)`` table).
    """
    if m.pruned:
        refresh_pruned(m, rows, n_chunks, lam, anchor)
        return
    sim = m.similarity_
    if m.pair_stats_ is None:  # weighted: recompute everything (weights are global)
        new = full_similarity(m, n_chunks)
        if lam:
            assert anchor is not None
            new = _shrink(new, _co_support(m), lam, anchor)
        setattr(m, m.sim_name + "_", new)
        return
    stats = m.pair_stats_
    measure, min_sprt, shrink = options(m)
    xs, _, _ = lists(m)
    n_x = stats.shape[1]
    count = np.bincount(xs, minlength=n_x).astype(np.float64)
    norm2 = np.bincount(xs, weights=m.pair_values_**2, minlength=n_x)
    K.inv_norm(norm2)
    rows = np.asarray(rows, dtype=np.int64)
    full = amplify(m, S.rows_from_stats(stats, rows, measure, count, norm2, min_sprt, shrink,
                                        m.config.shrinkage))  # fmt: skip
    if lam:
        assert anchor is not None
        full = _shrink(full, stats[0][rows], lam, anchor[rows])
    sim[rows, :] = full
    sim[:, rows] = full.T


def _shrink(new: np.ndarray, n: np.ndarray, lam: float, parent: np.ndarray) -> np.ndarray:
    n = n.astype(np.float64)
    return ((n * new + lam * parent) / (n + lam)).astype(np.float32)


def _co_support(m: KNNBase) -> np.ndarray:
    xs, ys, _ = lists(m)
    n_x, n_y = sizes(m)
    b = sp.csr_matrix((np.ones(len(xs)), (ys, xs)), shape=(n_y, n_x))
    b.data[:] = 1.0
    co = (b.T @ b).toarray()
    np.fill_diagonal(co, 0.0)
    return co


def fold_biases(
    m: KNNBase,
    users: np.ndarray,
    items: np.ndarray,
    ctx: FinetuneContext | None = None,
) -> None:
    """Closed-form biases of the touched items, then users, over all their ratings.

    With a fine-tuning context: ridge toward the parent's biases (L2-SP) and frozen groups kept.
    """
    if m.data_kind_ == "weight":
        return
    cfg = m.config
    by_user, by_item = m.seen_, m.seen_.T.tocsr()
    mu = m.global_mean_
    for group, csr, other, reg, rows in (
        ("item_bias", by_item, m.user_bias_, cfg.baseline_reg_item, items),
        ("user_bias", by_user, m.item_bias_, cfg.baseline_reg_user, users),
    ):
        own = getattr(m, group + "_")
        anchor, lam = np.zeros_like(own), 0.0
        if ctx is not None:
            if ctx.is_frozen(group):
                continue
            anchor, lam = ctx.anchors[group], ctx.lam(group)
        als_bias_rows(csr.indptr, csr.indices, csr.data, mu, other, own, anchor, reg, lam,
                      np.unique(rows))  # fmt: skip

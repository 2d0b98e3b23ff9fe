"""Similarities of the kNN models from their neighbour lists (fit, and rows after updates).

Everything here works on a fitted `rectune.models.knn.knn.KNNBase` (called ``m``) through its
neighbour lists ``rated_*`` (y-major: for item-kNN the items of each user, in data order),
which are the model's copy of the training data. Rating data keep a dense similarity matrix;
pruned neighbourhoods (implicit data) a sparse ``(n, k)`` neighbour table, built without an
``n x n`` matrix (`fit_pruned`), whose touched rows `refresh_pruned` recomputes after updates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rectune.errors import ConfigError
from rectune.models.knn import _kernels as K
from rectune.models.knn import _stats as S

if TYPE_CHECKING:
    from rectune.models.knn.knn import KNNBase


_RATING_MEASURES = {
    "cosine": K.COSINE,
    "msd": K.MSD,
    "pearson": K.PEARSON,
    "pearson_baseline": K.PEARSON_BASELINE,
    "jaccard": K.JACCARD,
}
_IMPLICIT_MEASURES = {"cosine": K.COSINE_FULL, "jaccard": K.JACCARD}


def measure_code(m: KNNBase) -> int:
    """The kernel code of the model's similarity measure (validates the configuration)."""
    implicit = m.data_kind_ == "weight"
    weighting, name = m.config.weighting, m.config.similarity
    if weighting != "none":
        if not implicit:
            raise ConfigError(f"weighting={weighting!r} needs implicit (weight) data")
        if name not in (None, "cosine"):
            raise ConfigError(
                f"weighting={weighting!r} works with similarity='cosine', not {name!r}"
            )
        return K.DOT if weighting == "bm25" else K.COSINE_FULL
    if not implicit:
        return _RATING_MEASURES[name or "pearson_baseline"]
    name = name or "cosine"
    if name not in _IMPLICIT_MEASURES:
        raise ConfigError(
            f"similarity={name!r} needs ratings; implicit (weight) data supports "
            f"{sorted(_IMPLICIT_MEASURES)}"
        )
    return _IMPLICIT_MEASURES[name]


def dense_view(m: KNNBase) -> np.ndarray:
    """The pruned neighbour table as a dense float32 matrix (see `_KNN.similarity_`)."""
    assert m.neighbors_ is not None
    val = getattr(m, m.sim_name + "_")
    dense = np.eye(len(val), dtype=np.float32)
    rows, slots = np.nonzero(m.neighbors_ >= 0)
    cols = m.neighbors_[rows, slots]
    dense[(rows, cols) if m.user_based else (cols, rows)] = val[rows, slots]
    return dense


def sizes(m: KNNBase) -> tuple[int, int]:
    """(n_x, n_y): the similarity side and the other side."""
    n_u, n_i = len(m.user_map_), len(m.item_map_)
    return (n_u, n_i) if m.user_based else (n_i, n_u)


def lists(m: KNNBase) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, values) of every neighbour-list entry, y-major in data order."""
    ys = np.repeat(np.arange(len(m.rated_indptr_) - 1), np.diff(m.rated_indptr_))
    return m.rated_indices_.astype(np.int64), ys, np.asarray(m.rated_values_, dtype=np.float64)


def stat_values(m: KNNBase, xs: np.ndarray, ys: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Values similarities are computed over: raw, baseline residuals or TF-IDF/BM25 weights."""
    measure = m.measure_code()
    if measure == K.PEARSON_BASELINE:
        us, its = (xs, ys) if m.user_based else (ys, xs)
        return vals - m.global_mean_ - m.user_bias_[us] - m.item_bias_[its]
    w = m.config.weighting
    if w == "none":
        return np.asarray(vals, dtype=np.float64)
    n_x, n_y = sizes(m)
    # implicit's tfidf_weight / bm25_weight on the x-by-y matrix: idf over y, length over x
    idf = np.log(n_x) - np.log1p(np.bincount(ys, minlength=n_y))
    if w == "tfidf":
        return np.sqrt(vals) * idf[ys]
    k1, b = m.config.bm25_k1, m.config.bm25_b
    row_sums = np.bincount(xs, weights=vals, minlength=n_x)
    length_norm = (1.0 - b) + b * row_sums / row_sums.mean()
    return vals * (k1 + 1.0) / (k1 * length_norm[xs] + vals) * idf[ys]


def indptr_of(rows: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=out[1:])
    return out


def means_of(index: np.ndarray, values: np.ndarray, n: int, default: float) -> np.ndarray:
    """Mean value per index (``default`` where an index has no rows)."""
    counts = np.bincount(index, minlength=n)
    sums = np.bincount(index, weights=values, minlength=n)
    out = np.full(n, default)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def options(m: KNNBase) -> tuple[int, int, bool]:
    measure = m.measure_code()
    min_sprt = m.config.min_support
    if measure == K.PEARSON_BASELINE:
        min_sprt = max(2, min_sprt)
    return measure, min_sprt, measure == K.PEARSON_BASELINE or m.config.shrink_all


def amplify(m: KNNBase, a: np.ndarray) -> np.ndarray:
    """Case amplification ``sign(s) |s| ** amplification`` (identity at 1)."""
    amp = m.config.amplification
    return a if amp == 1.0 else np.copysign(np.abs(a) ** np.float32(amp), a)


def full_similarity(m: KNNBase, n_chunks: int) -> np.ndarray:
    """The dense similarity matrix from the neighbour lists (ratings, ``query`` mode)."""
    xs, ys, vals = lists(m)
    vals = stat_values(m, xs, ys, vals)
    n_x, n_y = sizes(m)
    measure, _, shrink = options(m)
    cfg = m.config
    by_x = np.lexsort((ys, xs))
    by_y = np.lexsort((xs, ys))
    pos = np.empty(len(by_y), dtype=np.int64)
    pos[by_y] = np.arange(len(by_y))
    sim = K.similarity_matrix(
        indptr_of(xs, n_x), ys[by_x], vals[by_x], pos[by_x], indptr_of(ys, n_y), xs[by_y],
        vals[by_y], measure, cfg.min_support, cfg.shrinkage, shrink, n_chunks,
    )  # fmt: skip
    return amplify(m, sim)


def table_width(m: KNNBase, n_x: int) -> int:
    """Slots per row of the neighbour table: ``n_neighbors``, at most the other x's."""
    return max(1, min(m.config.n_neighbors, n_x - 1))


def fit_pruned(m: KNNBase, n_chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour table ``(nbr, val)`` of every x from the neighbour lists (sparse)."""
    n_x, _ = sizes(m)
    w = table_width(m, n_x)
    nbr, val = np.full((n_x, w), -1, dtype=np.int32), np.zeros((n_x, w), dtype=np.float32)
    _pruned_rows(m, np.arange(n_x), nbr, val, n_chunks)
    return nbr, val


def refresh_pruned(
    m: KNNBase, rows: np.ndarray, n_chunks: int, lam: float = 0.0, anchor: Any = None
) -> None:
    """Recompute the table rows whose top-k may have changed after the lists changed.

    Those are the touched ``rows`` and every x co-occurring with one (one of its similarities
    moved: a new co-occurrence or a new norm); with ``weighting`` every row (the weights are
    global). ``anchor`` is the parent ``(nbr, val)`` for L2-SP (``lam > 0``), applied to the
    whole similarity row before pruning.
    """
    nbr, val = m.neighbors_, getattr(m, m.sim_name + "_")
    if m.config.weighting != "none":
        rows = np.arange(len(nbr))
    elif len(rows):
        xs, ys, _ = lists(m)
        n_x, n_y = sizes(m)
        by_x, by_y = np.argsort(xs, kind="stable"), np.argsort(ys, kind="stable")
        rows = S.cooccurring(np.asarray(rows, dtype=np.int64), indptr_of(xs, n_x), ys[by_x],
                             indptr_of(ys, n_y), xs[by_y])  # fmt: skip
    _pruned_rows(m, np.asarray(rows, dtype=np.int64), nbr, val, n_chunks, lam, anchor)


def _pruned_rows(
    m: KNNBase, rows: np.ndarray, nbr: np.ndarray, val: np.ndarray, n_chunks: int,
    lam: float = 0.0, anchor: Any = None,
) -> None:  # fmt: skip
    xs, ys, vals = lists(m)
    vals = stat_values(m, xs, ys, vals)
    n_x, n_y = sizes(m)
    measure, min_sprt, shrink = options(m)
    cfg = m.config
    by_x = np.lexsort((ys, xs))
    by_y = np.lexsort((xs, ys))
    count = np.bincount(xs, minlength=n_x).astype(np.float64)
    norm = np.bincount(xs, weights=vals * vals, minlength=n_x)
    K.inv_norm(norm)
    if measure == K.COSINE_FULL:  # unit vectors: the cosine is their dot product (implicit's)
        vals, measure = vals * norm[xs], K.DOT
    par_nbr, par_val = anchor if lam else (nbr[:0], val[:0])
    S.pruned_rows(
        rows, indptr_of(xs, n_x), ys[by_x].astype(np.int32), vals[by_x], indptr_of(ys, n_y),
        xs[by_y].astype(np.int32), vals[by_y],
        count, norm, measure, min_sprt, shrink, cfg.shrinkage, cfg.amplification, float(lam),
        par_nbr, par_val, nbr, val, max(1, min(n_chunks, len(rows))),
    )  # fmt: skip

"""Numba kernels for pruned (implicit) item-kNN and incremental kNN similarities.

Pruned neighbourhoods follow Deshpande and Karypis 2004 ("Item-based top-N recommendation
algorithms"), as implicit's ``ItemItemRecommender``: each ``x`` keeps its ``k`` most similar
other ``x``'s. For item-kNN the stored matrix is transposed (``sim[j, i]`` holds ``s_ij`` when
``j`` is one of ``i``'s neighbours: a user's items vote with their own neighbourhoods); for
user-kNN row ``u`` holds ``u``'s neighbours. The scoring kernels of `_knn_kernels` then read
row ``x`` as usual, summing every qualifying entry.

Incremental updates keep dense float32 pair accumulators ``stats[k, a, b]``: ``k = 0`` the
co-rated count, 1 the sum of products, 2 the sum of ``r_a**2`` over the co-rated entries (row
``a``; ``stats[2, b, a]`` is the other side's), 3 the sum of ``r_a`` (Pearson only). Adding an
event adds its products with the other entries of its ``y`` row; replacing a rating subtracts the
old contribution first. Similarities are then recomputed for the touched rows only, through the
same `sim_value` the full kernels use, so on exact data (counts, integer ratings) the result is
bit-identical to a refit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rectune.models._knn_kernels import _kth_largest, inv_norm, sim_value


@njit(cache=True)
def keep_top(row, cand, nc, k, tmp, out):  # pragma: no cover - jit
    """Indices of the ``k`` largest ``row[cand[:nc]]`` into ``out``; returns how many.

    Ties at the threshold go to the lower index, so the kept set does not depend on the order
    of ``cand`` (the full and the incremental kernels agree exactly).
    """
    if nc <= k:
        for t in range(nc):
            out[t] = cand[t]
        return nc
    for t in range(nc):
        tmp[t] = row[cand[t]]
    thr = _kth_largest(tmp, nc, k)
    m = 0
    nt = 0
    for t in range(nc):
        if row[cand[t]] == thr:
            nt += 1
    ties = np.empty(nt, dtype=np.int64)
    nt = 0
    for t in range(nc):
        v = row[cand[t]]
        if v > thr:
            out[m] = cand[t]
            m += 1
        elif v == thr:
            ties[nt] = cand[t]
            nt += 1
    ties.sort()
    for t in range(k - m):
        out[m + t] = ties[t]
    return k


@njit(cache=True, fastmath=True, parallel=True)
def similarity_pruned(
    x_indptr, x_indices, x_vals, y_indptr, y_indices, y_vals,
    measure, min_support, shrinkage, shrink, k, transpose, n_chunks,
):  # fmt: skip  # pragma: no cover - jit
    """Top-``k`` similarity of every x (implicit measures: co-count and products).

    Row ``xi`` is owned by one thread, which accumulates the statistics of ``xi`` with every
    co-occurring ``xj`` in a dense per-thread row, keeps the ``k`` best and writes row ``xi``
    (column ``xi`` if ``transpose``).
    """
    n_x = len(x_indptr) - 1
    sim = np.zeros((n_x, n_x), dtype=np.float32)
    count = np.zeros(n_x, dtype=np.float64)
    norm2 = np.zeros(n_x, dtype=np.float64)
    for x in range(n_x):
        count[x] = x_indptr[x + 1] - x_indptr[x]
        for p in range(x_indptr[x], x_indptr[x + 1]):
            norm2[x] += x_vals[p] * x_vals[p]
    inv_norm(norm2)
    for c in prange(n_chunks):
        cnt = np.zeros(n_x)
        prod = np.zeros(n_x)
        row = np.zeros(n_x, dtype=np.float32)
        touched = np.empty(n_x, dtype=np.int64)
        tmp = np.empty(n_x, dtype=np.float64)
        kept = np.empty(n_x, dtype=np.int64)
        for xi in range(c, n_x, n_chunks):
            sim[xi, xi] = 1.0
            nt = 0
            for p in range(x_indptr[xi], x_indptr[xi + 1]):
                y = x_indices[p]
                ri = x_vals[p]
                for q in range(y_indptr[y], y_indptr[y + 1]):
                    xj = y_indices[q]
                    if xj == xi:
                        continue
                    if cnt[xj] == 0.0:
                        touched[nt] = xj
                        nt += 1
                    cnt[xj] += 1.0
                    prod[xj] += ri * y_vals[q]
            nc = 0
            for t in range(nt):
                xj = touched[t]
                s = sim_value(
                    measure, cnt[xj], prod[xj], 0.0, 0.0, 0.0, 0.0, count[xi], count[xj],
                    norm2[xi], norm2[xj], min_support, shrink, shrinkage,
                )  # fmt: skip
                row[xj] = s
                if row[xj] != 0.0:
                    touched[nc] = xj
                    nc += 1
                cnt[xj] = 0.0
                prod[xj] = 0.0
            m = keep_top(row, touched, nc, k, tmp, kept)
            for t in range(m):
                if transpose:
                    sim[kept[t], xi] = row[kept[t]]
                else:
                    sim[xi, kept[t]] = row[kept[t]]
            for t in range(nc):
                row[touched[t]] = 0.0
    return sim


@njit(cache=True)
def stats_delta(stats, ys, u_indptr, u_x, u_v, c_indptr, c_x, c_v, sign):  # pragma: no cover
    """Add ``sign`` times the pair statistics of changed entries ``C`` of each listed ``y``.

    For row ``t`` (the y ``ys[t]``), ``u_*`` are its unchanged entries and ``c_*`` the changed
    ones: the pairs (unchanged, changed) and (changed, changed) are the ones whose statistics
    differ between the old and the new data.
    """
    n_stats = stats.shape[0]
    for t in range(len(ys)):
        for p in range(c_indptr[t], c_indptr[t + 1]):
            a = c_x[p]
            ra = c_v[p]
            for q in range(u_indptr[t], u_indptr[t + 1]):
                _add_pair(stats, n_stats, a, u_x[q], ra, u_v[q], sign)
            for q in range(p + 1, c_indptr[t + 1]):
                _add_pair(stats, n_stats, a, c_x[q], ra, c_v[q], sign)


@njit(cache=True, inline="always")
def _add_pair(stats, n_stats, a, b, ra, rb, sign):  # pragma: no cover - jit
    if a == b:  # a duplicate rating
        return
    stats[0, a, b] += sign
    stats[0, b, a] += sign
    if n_stats > 1:
        stats[1, a, b] += sign * ra * rb
        stats[1, b, a] += sign * ra * rb
    if n_stats > 2:
        stats[2, a, b] += sign * ra * ra
        stats[2, b, a] += sign * rb * rb
    if n_stats > 3:
        stats[3, a, b] += sign * ra
        stats[3, b, a] += sign * rb


@njit(cache=True, fastmath=True, parallel=True)
def rows_from_stats(
    stats, rows, measure, count, norm2, min_sprt, shrink, shrinkage
):  # pragma: no cover - jit
    """Full similarity rows of ``rows`` from the accumulators (diagonal 1), float32.

    ``norm2`` holds inverse norms (`inv_norm`). A pair is computed with the smaller index
    first, as the full kernel does.
    """
    n_x = stats.shape[1]
    n_stats = stats.shape[0]
    out = np.zeros((len(rows), n_x), dtype=np.float32)
    for r in prange(len(rows)):
        a = rows[r]
        for b in range(n_x):
            if b == a:
                out[r, b] = 1.0
                continue
            n = stats[0, a, b]
            if n == 0.0:
                continue
            i, j = (a, b) if a < b else (b, a)
            prods = stats[1, i, j] if n_stats > 1 else 0.0
            sqi = stats[2, i, j] if n_stats > 2 else 0.0
            sqj = stats[2, j, i] if n_stats > 2 else 0.0
            si = stats[3, i, j] if n_stats > 3 else 0.0
            sj = stats[3, j, i] if n_stats > 3 else 0.0
            out[r, b] = sim_value(
                measure, np.float64(n), np.float64(prods), np.float64(sqi), np.float64(sqj),
                np.float64(si), np.float64(sj), count[i], count[j], norm2[i], norm2[j], min_sprt,
                shrink, shrinkage,
            )  # fmt: skip
    return out


@njit(cache=True, parallel=True)
def write_pruned(sim, full_rows, rows, k, transpose):  # pragma: no cover - jit
    """Write the top-``k`` of each full row ``rows[r]`` as row (``transpose``: column)."""
    n_x = sim.shape[0]
    for r in prange(len(rows)):
        xi = rows[r]
        row = full_rows[r]
        cand = np.empty(n_x, dtype=np.int64)
        tmp = np.empty(n_x, dtype=np.float64)
        kept = np.empty(n_x, dtype=np.int64)
        nc = 0
        for j in range(n_x):
            if transpose:
                sim[j, xi] = 0.0
            else:
                sim[xi, j] = 0.0
            if j != xi and row[j] != 0.0:
                cand[nc] = j
                nc += 1
        sim[xi, xi] = 1.0
        m = keep_top(row, cand, nc, k, tmp, kept)
        for t in range(m):
            if transpose:
                sim[kept[t], xi] = row[kept[t]]
            else:
                sim[xi, kept[t]] = row[kept[t]]

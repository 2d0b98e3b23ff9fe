"""Numba kernels of the k-nearest-neighbour models (`rectune.models.knn`).

Notation follows Surprise's symmetric algorithms: ``x`` is the side whose similarities are
computed (items for item-kNN, users for user-kNN) and ``y`` the other side. ``yr`` is the
y-major CSR of the training ratings (for item-kNN: the items each user rated, in data order), so
the neighbours of ``x`` for a target ``y`` are the entries of row ``y`` of ``yr``.

Similarity measures (codes passed as ``measure``), on the ratings co-rated by ``xi`` and ``xj``
unless noted (Surprise's ``similarities.pyx``; Koren 2010, "Factor in the neighbors", eq. 2 for
the shrunk baseline Pearson correlation; Sarwar et al. 2001, "Item-based collaborative filtering
recommendation algorithms", for item-item cosine and Pearson). Similarities are computed in
float64 and stored as float32.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

COSINE = 0
"""Cosine over co-rated entries (Surprise's ``cosine``)."""
MSD = 1
"""``1 / (mean squared difference + 1)`` over co-rated entries."""
PEARSON = 2
"""Pearson correlation centred on the co-rated means."""
PEARSON_BASELINE = 3
"""Correlation of baseline residuals ``r - b_ui`` (values passed in are already residuals)."""
JACCARD = 4
"""``|X_i & X_j| / |X_i | X_j|`` on the sets of raters."""
COSINE_FULL = 5
"""Cosine of the whole (implicit) vectors, zeros included."""
DOT = 6
"""Dot product of the whole (weighted implicit) vectors: BM25 item-item (implicit's)."""


@njit(cache=True, fastmath=True, inline="always")
def sim_value(
    measure, n, prods, sqi, sqj, si, sj, cnt_i, cnt_j, nrm_i, nrm_j, min_sprt, shrink, shrinkage
):  # pragma: no cover - jit
    """One similarity from the co-rated statistics of a pair (shared by every kernel).

    ``n`` co-rated count, ``prods`` sum of products, ``sqi``/``sqj`` sums of squares and
    ``si``/``sj`` sums over the co-rated entries; ``cnt`` whole-vector counts and ``nrm`` the
    inverse whole-vector norms (0 for an empty vector), so a full cosine is two products.
    """
    s = 0.0
    if n >= min_sprt:
        if measure == COSINE or measure == PEARSON_BASELINE:
            den = np.sqrt(sqi * sqj)
            if den > 0.0:
                s = prods / den
        elif measure == MSD:
            s = 1.0 / ((sqi + sqj - 2.0 * prods) / n + 1.0)
        elif measure == PEARSON:
            den = (n * sqi - si * si) * (n * sqj - sj * sj)
            if den > 0.0:
                s = (n * prods - si * sj) / np.sqrt(den)
        elif measure == JACCARD:
            s = n / (cnt_i + cnt_j - n)
        elif measure == DOT:
            s = prods
        else:  # COSINE_FULL
            s = prods * nrm_i * nrm_j
        if shrink:
            s *= (n - 1.0) / (n - 1.0 + shrinkage)
    return s


@njit(cache=True, fastmath=True, parallel=True)
def similarity_matrix(
    x_indptr, x_indices, x_vals, x_pos, y_indptr, y_indices, y_vals,
    measure, min_support, shrinkage, shrink, n_chunks,
):  # fmt: skip  # pragma: no cover - jit
    """Dense float32 similarity of every pair of x, accumulated over co-rated pairs.

    ``x_*`` is the x-major CSR (columns y), ``y_*`` the y-major CSR with columns sorted by x,
    and ``x_pos[p]`` the position in ``y_indices`` of x-major entry ``p``. Row ``xi`` is owned
    by one thread, which walks its ratings ``(xi, y)`` and, for each, the x's after ``xi`` in
    row ``y``: the co-rated statistics of ``(xi, xj)``, ``xj > xi``, land in a per-thread
    ``(n_x, n_stats)`` buffer, so there is no write conflict and no ``n_x**2`` accumulator.
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
    min_sprt = max(2, min_support) if measure == PEARSON_BASELINE else min_support
    sums = measure == PEARSON
    for c in prange(n_chunks):
        # columns: co-count, sum ri rj, sum ri^2, sum rj^2, sum ri, sum rj
        st = np.zeros((n_x, 6 if sums else 4))
        touched = np.empty(n_x, dtype=np.int64)
        for xi in range(c, n_x, n_chunks):
            sim[xi, xi] = 1.0
            nt = 0
            for p in range(x_indptr[xi], x_indptr[xi + 1]):
                y = x_indices[p]
                ri = x_vals[p]
                for q in range(x_pos[p] + 1, y_indptr[y + 1]):
                    xj = y_indices[q]
                    if xj == xi:  # a duplicate rating
                        continue
                    rj = y_vals[q]
                    if st[xj, 0] == 0.0:
                        touched[nt] = xj
                        nt += 1
                    st[xj, 0] += 1.0
                    st[xj, 1] += ri * rj
                    st[xj, 2] += ri * ri
                    st[xj, 3] += rj * rj
                    if sums:
                        st[xj, 4] += ri
                        st[xj, 5] += rj
            for t in range(nt):
                xj = touched[t]
                si = st[xj, 4] if sums else 0.0
                sj = st[xj, 5] if sums else 0.0
                s = sim_value(
                    measure, st[xj, 0], st[xj, 1], st[xj, 2], st[xj, 3], si, sj, count[xi],
                    count[xj], norm2[xi], norm2[xj], min_sprt, shrink, shrinkage,
                )  # fmt: skip
                sim[xi, xj] = s
                st[xj, :] = 0.0
    _mirror_upper(sim)
    return sim


@njit(cache=True)
def inv_norm(norm2):  # pragma: no cover - jit
    """In place: sums of squares become inverse norms (0 stays 0)."""
    for x in range(len(norm2)):
        norm2[x] = 1.0 / np.sqrt(norm2[x]) if norm2[x] > 0.0 else 0.0


@njit(cache=True, parallel=True)
def _mirror_upper(a):  # pragma: no cover - jit
    """Copy the upper triangle onto the lower one, in cache-friendly blocks."""
    n = a.shape[0]
    b = 64
    nb = (n + b - 1) // b
    for bi in prange(nb):
        for bj in range(bi + 1):
            for i in range(bi * b, min(n, (bi + 1) * b)):
                for j in range(bj * b, min(i, (bj + 1) * b)):
                    a[i, j] = a[j, i]


@njit(cache=True, fastmath=True)
def _kth_largest(a, n, k):  # pragma: no cover - jit
    """The k-th largest (1-based) of ``a[:n]`` by in-place quickselect (Hoare partition)."""
    lo = 0
    hi = n - 1
    target = k - 1
    while lo < hi:
        mid = (lo + hi) // 2
        p, q, r = a[lo], a[mid], a[hi]
        pivot = max(min(p, q), min(max(p, q), r))
        i = lo
        j = hi
        while i <= j:
            while a[i] > pivot:
                i += 1
            while a[j] < pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if target <= j:
            hi = j
        elif target >= i:
            lo = i
        else:
            return a[target]
    return a[lo]


@njit(cache=True, fastmath=True)
def _aggregate(
    x, y, sim, y_indptr, y_indices, y_dev, k, min_sim, buf_s, buf_v, buf_t
):  # pragma: no cover
    """Sum of similarities, of similarity-weighted deviations and the neighbour count.

    Neighbours of ``x`` are the entries of row ``y`` with similarity above ``min_sim``; when
    more than ``k`` qualify, the ``k`` largest are kept, ties going to the earlier entry (the
    order of ``heapq.nlargest`` on Surprise's rating lists).
    """
    n = 0
    for q in range(y_indptr[y], y_indptr[y + 1]):
        s = sim[x, y_indices[q]]
        if s > min_sim:
            buf_s[n] = s
            buf_v[n] = y_dev[q]
            n += 1
    sum_s = 0.0
    sum_sv = 0.0
    if n <= k:
        for t in range(n):
            sum_s += buf_s[t]
            sum_sv += buf_s[t] * buf_v[t]
        return sum_s, sum_sv, n
    for t in range(n):
        buf_t[t] = buf_s[t]
    thr = _kth_largest(buf_t, n, k)
    ties = k
    for t in range(n):
        if buf_s[t] > thr:
            ties -= 1
    for t in range(n):
        s = buf_s[t]
        if s > thr or (s == thr and ties > 0):
            if s == thr:
                ties -= 1
            sum_s += s
            sum_sv += s * buf_v[t]
    return sum_s, sum_sv, k


@njit(cache=True, fastmath=True)
def _estimate(
    x,
    y,
    sim,
    y_indptr,
    y_indices,
    y_dev,
    base_c,
    base_x,
    base_y,
    impossible,
    use_impossible,
    k,
    min_k,
    min_sim,
    sum_reg,
    implicit,
    buf_s,
    buf_v,
    buf_t,
):  # pragma: no cover - jit
    """One estimate: ``base + sum(s * dev) / (sum(s) + sum_reg)`` (ratings) or ``sum(s)``."""
    sum_s, sum_sv, actual_k = _aggregate(
        x, y, sim, y_indptr, y_indices, y_dev, k, min_sim, buf_s, buf_v, buf_t
    )
    if implicit:
        return sum_s if actual_k >= min_k else 0.0
    base = base_c + base_x[x] + base_y[y]
    if actual_k < min_k or sum_s == 0.0:
        return impossible if use_impossible else base
    return base + sum_sv / (sum_s + sum_reg)


@njit(cache=True, fastmath=True, parallel=True)
def predict_pairs(
    xs,
    ys,
    sim,
    y_indptr,
    y_indices,
    y_dev,
    base_c,
    base_x,
    base_y,
    impossible,
    use_impossible,
    k,
    min_k,
    min_sim,
    sum_reg,
    implicit,
    n_chunks,
):  # pragma: no cover - jit
    """Estimates of (x, y) pairs; ``impossible`` (if ``use_impossible``, else the base) when
    fewer than ``min_k`` neighbours qualify or their similarities sum to zero."""
    n = len(xs)
    out = np.empty(n, dtype=np.float64)
    width = 1
    for y in range(len(y_indptr) - 1):
        width = max(width, y_indptr[y + 1] - y_indptr[y])
    step = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        buf_s = np.empty(width, dtype=sim.dtype)
        buf_v = np.empty(width, dtype=np.float64)
        buf_t = np.empty(width, dtype=sim.dtype)
        for p in range(c * step, min(n, (c + 1) * step)):
            out[p] = _estimate(
                xs[p],
                ys[p],
                sim,
                y_indptr,
                y_indices,
                y_dev,
                base_c,
                base_x,
                base_y,
                impossible,
                use_impossible,
                k,
                min_k,
                min_sim,
                sum_reg,
                implicit,
                buf_s,
                buf_v,
                buf_t,
            )
    return out


@njit(cache=True, fastmath=True, parallel=True)
def score_users(
    users,
    n_items,
    user_based,
    sim,
    y_indptr,
    y_indices,
    y_dev,
    base_c,
    base_x,
    base_y,
    impossible,
    use_impossible,
    k,
    min_k,
    min_sim,
    sum_reg,
    implicit,
):  # pragma: no cover - jit
    """Estimates of every item for each user: shape ``(len(users), n_items)``."""
    out = np.empty((len(users), n_items), dtype=np.float64)
    width = 1
    for y in range(len(y_indptr) - 1):
        width = max(width, y_indptr[y + 1] - y_indptr[y])
    for r in prange(len(users)):
        buf_s = np.empty(width, dtype=sim.dtype)
        buf_v = np.empty(width, dtype=np.float64)
        buf_t = np.empty(width, dtype=sim.dtype)
        u = users[r]
        for i in range(n_items):
            x, y = (u, i) if user_based else (i, u)
            out[r, i] = _estimate(
                x,
                y,
                sim,
                y_indptr,
                y_indices,
                y_dev,
                base_c,
                base_x,
                base_y,
                impossible,
                use_impossible,
                k,
                min_k,
                min_sim,
                sum_reg,
                implicit,
                buf_s,
                buf_v,
                buf_t,
            )
    return out

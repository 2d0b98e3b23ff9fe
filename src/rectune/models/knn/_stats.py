"""Numba kernels for pruned (implicit) kNN and incremental kNN similarities.

Pruned neighbourhoods follow Deshpande and Karypis 2004 ("Item-based top-N recommendation
algorithms"), as implicit's ``ItemItemRecommender``: each ``x`` keeps its ``k`` most similar
other ``x``'s in a fixed-width neighbour table (``nbr[x, t]`` the index, ``val[x, t]`` the
float32 similarity, best first, -1/0 padding: a CSR with equal row lengths), built per row by a
sparse co-occurrence kernel (`pruned_rows`) that never materialises the ``n_x**2`` matrix.
For item-kNN a user's items vote with their own neighbourhoods (the score of ``i`` sums ``s_ji``
over the user's items ``j`` that keep ``i``; implicit's ``user_items @ similarity``); for
user-kNN the user's neighbours vote for their items. The diagonal counts as similarity 1.

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

from rectune.models.knn._kernels import JACCARD, sim_value


@njit(cache=True, inline="always")
def _better(s, j, s2, j2):  # pragma: no cover - jit
    """Whether (s, j) ranks before (s2, j2): larger similarity, then lower index."""
    return s > s2 or (s == s2 and j < j2)


@njit(cache=True, inline="always")
def _sift_down(hs, hj, n, i):  # pragma: no cover - jit
    """Restore the heap below ``i``; the root is the worst kept entry (see `_better`)."""
    while True:
        a = 2 * i + 1
        if a >= n:
            return
        b = a + 1
        if b < n and _better(hs[a], hj[a], hs[b], hj[b]):
            a = b
        if not _better(hs[i], hj[i], hs[a], hj[a]):
            return
        hs[i], hs[a] = hs[a], hs[i]
        hj[i], hj[a] = hj[a], hj[i]
        i = a


@njit(cache=True, fastmath=True, parallel=True)
def pruned_rows(
    rows, x_indptr, x_indices, x_vals, y_indptr, y_indices, y_vals, count, norm,
    measure, min_support, shrink, shrinkage, amp, lam, par_nbr, par_val, nbr, val, n_chunks,
):  # fmt: skip  # pragma: no cover - jit
    """Write the top-``k`` neighbour table rows ``nbr[x]``, ``val[x]`` of every ``x`` in ``rows``.

    Row ``x`` is owned by one thread, which walks the y's of ``x`` (x-major CSR ``x_*``) and,
    for each, the other x's of that y (y-major CSR ``y_*``), accumulating co-counts and sums of
    products in dense per-thread scratch rows (a sparse accumulator, as implicit's
    ``all_pairs_knn``: never ``n_x**2`` memory). The similarities of the co-occurring x's go
    through `sim_value` (index-ordered, so ``s(a, b)`` is bit-identical from either side),
    ``amp`` (case amplification) and, with ``lam > 0``, L2-SP toward the parent table
    ``par_nbr``/``par_val``: ``s = (n s + lam s_parent) / (n + lam)``, n the co-count. A heap
    keeps the ``k = nbr.shape[1]`` largest non-zero ones, written best first (ties: lower index
    first); unused slots hold index -1 and value 0. ``count``, ``norm`` (inverse norms): per x.
    """
    n_x = len(x_indptr) - 1
    k = nbr.shape[1]
    need_cnt = measure == JACCARD or min_support > 1 or shrink or lam > 0.0
    for c in prange(n_chunks):
        cnt = np.zeros(n_x if need_cnt else 1)
        prod = np.zeros(n_x)
        par = np.zeros(n_x if lam > 0.0 else 1)
        mark = np.full(n_x, -1, dtype=np.int64)
        touched = np.empty(n_x, dtype=np.int64)
        hs = np.empty(k, dtype=np.float32)
        hj = np.empty(k, dtype=np.int64)
        for r in range(c, len(rows), n_chunks):
            xi = rows[r]
            mark[xi] = xi
            nt = 0
            for p in range(x_indptr[xi], x_indptr[xi + 1]):
                y = x_indices[p]
                ri = x_vals[p]
                for q in range(y_indptr[y], y_indptr[y + 1]):
                    xj = y_indices[q]
                    if mark[xj] != xi:
                        mark[xj] = xi
                        touched[nt] = xj
                        nt += 1
                    prod[xj] += ri * y_vals[q]
                    if need_cnt:
                        cnt[xj] += 1.0
            prod[xi] = 0.0  # the diagonal was accumulated too (cheaper than a test)
            if need_cnt:
                cnt[xi] = 0.0
            if lam > 0.0:
                for t in range(par_nbr.shape[1]):
                    xj = par_nbr[xi, t]
                    if xj < 0:
                        break
                    par[xj] = par_val[xi, t]
                    if mark[xj] != xi:
                        mark[xj] = xi
                        touched[nt] = xj
                        nt += 1
            m = 0
            for t in range(nt):
                xj = touched[t]
                lo, hi = (xi, xj) if xi < xj else (xj, xi)
                n = cnt[xj] if need_cnt else 1.0
                s = sim_value(
                    measure, n, prod[xj], 0.0, 0.0, 0.0, 0.0, count[lo], count[hi], norm[lo],
                    norm[hi], min_support, shrink, shrinkage,
                )  # fmt: skip
                prod[xj] = 0.0
                if need_cnt:
                    cnt[xj] = 0.0
                if amp != 1.0:
                    s = np.float64(np.float32(s))
                    s = np.sign(s) * np.abs(s) ** amp
                if lam > 0.0:
                    s = (n * np.float64(np.float32(s)) + lam * par[xj]) / (n + lam)
                    par[xj] = 0.0
                s32 = np.float32(s)
                if s32 == 0.0:
                    continue
                if m < k:  # grow the heap: sift the new entry up
                    i = m
                    m += 1
                    while i > 0:
                        up = (i - 1) // 2
                        if not _better(hs[up], hj[up], s32, xj):
                            break
                        hs[i], hj[i] = hs[up], hj[up]
                        i = up
                    hs[i], hj[i] = s32, xj
                elif _better(s32, xj, hs[0], hj[0]):
                    hs[0], hj[0] = s32, xj
                    _sift_down(hs, hj, m, 0)
            for t in range(k - 1, -1, -1):  # pop the worst into the last slot
                if t >= m:
                    nbr[xi, t] = -1
                    val[xi, t] = 0.0
                    continue
                nbr[xi, t] = hj[0]
                val[xi, t] = hs[0]
                hs[0], hj[0] = hs[t], hj[t]
                _sift_down(hs, hj, t, 0)


@njit(cache=True)
def cooccurring(rows, x_indptr, x_indices, y_indptr, y_indices):  # pragma: no cover - jit
    """Sorted x's sharing a y with any of ``rows``, ``rows`` included."""
    n_x = len(x_indptr) - 1
    mark = np.zeros(n_x, dtype=np.bool_)
    done = np.zeros(len(y_indptr) - 1, dtype=np.bool_)
    for xi in rows:
        mark[xi] = True
        for p in range(x_indptr[xi], x_indptr[xi + 1]):
            y = x_indices[p]
            if done[y]:
                continue
            done[y] = True
            for q in range(y_indptr[y], y_indptr[y + 1]):
                mark[y_indices[q]] = True
    return np.flatnonzero(mark)


@njit(cache=True, fastmath=True, parallel=True)
def score_pruned_users(
    users, n_items, user_based, nbr, val, rated_indptr, rated_indices, x_indptr, x_indices,
    min_k, min_sim,
):  # fmt: skip  # pragma: no cover - jit
    """Scores of every item for each user from the neighbour table: ``(len(users), n_items)``.

    Item-kNN: each of the user's items ``j`` (``rated_*``, y-major) adds 1 to itself (the
    diagonal) and ``s_ji`` to each of its neighbours ``i``. User-kNN: the user (1) and each of
    its neighbours ``v`` (``s_uv``) add to every item of theirs (``x_*``, x-major). Only
    similarities above ``min_sim`` count; items with fewer than ``min_k`` of them score 0.
    """
    out = np.zeros((len(users), n_items), dtype=np.float64)
    k = nbr.shape[1]
    for r in prange(len(users)):
        u = users[r]
        hits = np.zeros(n_items, dtype=np.int64)
        if user_based:
            for t in range(-1, k):
                v = u if t < 0 else nbr[u, t]
                s = 1.0 if t < 0 else np.float64(val[u, t])
                if v < 0:
                    break
                if s > min_sim:
                    for p in range(x_indptr[v], x_indptr[v + 1]):
                        out[r, x_indices[p]] += s
                        hits[x_indices[p]] += 1
        else:
            for q in range(rated_indptr[u], rated_indptr[u + 1]):
                j = rated_indices[q]
                if 1.0 > min_sim:
                    out[r, j] += 1.0
                    hits[j] += 1
                for t in range(k):
                    i = nbr[j, t]
                    if i < 0:
                        break
                    s = np.float64(val[j, t])
                    if s > min_sim:
                        out[r, i] += s
                        hits[i] += 1
        if min_k > 1:
            for i in range(n_items):
                if hits[i] < min_k:
                    out[r, i] = 0.0
    return out


@njit(cache=True, fastmath=True, parallel=True)
def score_pruned_pairs(
    xs, ys, user_based, nbr, val, rated_indptr, rated_indices, min_k, min_sim
):  # pragma: no cover - jit
    """Scores of (x, y) pairs: the similarities to ``x`` of the x's in row ``y`` (see above)."""
    out = np.zeros(len(xs), dtype=np.float64)
    k = nbr.shape[1]
    for p in prange(len(xs)):
        x, y = xs[p], ys[p]
        total = 0.0
        hits = 0
        for q in range(rated_indptr[y], rated_indptr[y + 1]):
            x2 = rated_indices[q]
            s = 0.0
            if x2 == x:
                s = 1.0
            else:
                a, b = (x, x2) if user_based else (x2, x)
                for t in range(k):
                    if nbr[a, t] < 0:
                        break
                    if nbr[a, t] == b:
                        s = np.float64(val[a, t])
                        break
            if s > min_sim:
                total += s
                hits += 1
        out[p] = total if hits >= min_k else 0.0
    return out


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

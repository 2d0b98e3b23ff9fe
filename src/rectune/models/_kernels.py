"""Small numba kernels shared by several models."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=True)
def sgd_biases(users, items, values, mu, bu, bi, epochs, lr, reg):  # pragma: no cover - jit
    """Surprise's SGD baseline: b_u += lr (e - reg b_u), b_i += lr (e - reg b_i), in data order."""
    for _ in range(epochs):
        for k in range(len(users)):
            u = users[k]
            i = items[k]
            err = values[k] - (mu + bu[u] + bi[i])
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])


@njit(cache=True)
def csr_from_pairs(rows, cols, vals, n_rows):  # pragma: no cover - jit
    """CSR arrays (indptr, indices, data) of (row, col, val) triples by a counting sort.

    O(n) and stable: entries of a row keep their input order. Duplicates are kept.
    """
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for r in rows:
        indptr[r + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    fill = indptr[:-1].copy()
    indices = np.empty(len(rows), dtype=np.int32)
    data = np.empty(len(rows), dtype=np.float64)
    for k in range(len(rows)):
        r = rows[k]
        p = fill[r]
        indices[p] = cols[k]
        data[p] = vals[k]
        fill[r] = p + 1
    return indptr, indices, data


@njit(cache=True)
def compact(codes, n):  # pragma: no cover - jit
    """Renumber the values of ``codes`` (in 0..n-1) to 0..m-1 in increasing order.

    Returns (present, local): the distinct values sorted, and each code's new number.
    """
    seen = np.zeros(n, dtype=np.int64)
    for c in codes:
        seen[c] = 1
    new = np.full(n, -1, dtype=np.int64)
    m = 0
    for c in range(n):
        if seen[c]:
            new[c] = m
            m += 1
    present = np.empty(m, dtype=np.int64)
    for c in range(n):
        if new[c] >= 0:
            present[new[c]] = c
    local = np.empty(len(codes), dtype=np.int32)
    for k in range(len(codes)):
        local[k] = new[codes[k]]
    return present, local


@njit(cache=True)
def als_biases(
    users, items, values, mu, n_users, n_items, epochs, reg_u, reg_i
):  # pragma: no cover
    """Surprise's ALS baseline: alternate closed-form item then user bias updates.

    b_i = sum_u (r_ui - mu - b_u) / (reg_i + |U_i|), then b_u likewise (Koren 2010, eq. 2.1).
    """
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    cu = np.zeros(n_users)
    ci = np.zeros(n_items)
    for k in range(len(users)):
        cu[users[k]] += 1.0
        ci[items[k]] += 1.0
    acc_u = np.empty(n_users)
    acc_i = np.empty(n_items)
    for _ in range(epochs):
        acc_i[:] = 0.0
        for k in range(len(users)):
            acc_i[items[k]] += values[k] - mu - bu[users[k]]
        for i in range(n_items):
            bi[i] = acc_i[i] / (reg_i + ci[i])
        acc_u[:] = 0.0
        for k in range(len(users)):
            acc_u[users[k]] += values[k] - mu - bi[items[k]]
        for u in range(n_users):
            bu[u] = acc_u[u] / (reg_u + cu[u])
    return bu, bi


@njit(cache=True, fastmath=True)
def sgd_biases_finetune(
    users, items, values, mu, bu, bi, bu0, bi0, lr_u, lr_i, reg, lam_u, lam_i, clip, order
):  # pragma: no cover - jit
    """One SGD epoch of the bias model with L2-SP toward (bu0, bi0), clipping, frozen groups.

    A learning rate of 0 freezes a group. L2-SP ``lam ||b - b0||^2`` is applied as a proximal
    step, ``b <- (b + 2 lr lam b0) / (1 + 2 lr lam)``, stable for any lambda (a huge lambda
    keeps the parent). ``clip`` > 0 bounds each gradient's magnitude.
    """
    for k in order:
        u = users[k]
        i = items[k]
        err = values[k] - (mu + bu[u] + bi[i])
        gu = err - reg * bu[u]
        gi = err - reg * bi[i]
        if clip > 0:
            gu = max(-clip, min(clip, gu))
            gi = max(-clip, min(clip, gi))
        if lr_u > 0:
            b = bu[u] + lr_u * gu
            bu[u] = (b + 2 * lr_u * lam_u * bu0[u]) / (1 + 2 * lr_u * lam_u)
        if lr_i > 0:
            b = bi[i] + lr_i * gi
            bi[i] = (b + 2 * lr_i * lam_i * bi0[i]) / (1 + 2 * lr_i * lam_i)


@njit(cache=True)
def als_bias_rows(indptr, cols, values, mu, other, own, own0, reg, lam, rows):  # pragma: no cover
    """Closed-form bias of each listed row given the other side, with L2-SP toward ``own0``.

    ``b = (sum (r - mu - b_other) + lam b0) / (reg + n + lam)`` (ridge toward the parent).
    """
    for r in rows:
        acc = 0.0
        n = 0
        for p in range(indptr[r], indptr[r + 1]):
            acc += values[p] - mu - other[cols[p]]
            n += 1
        own[r] = (acc + lam * own0[r]) / (reg + n + lam)


@njit(cache=True)
def merge_csr(indptr, indices, data, n_rows, n_cols, rows, cols, vals, replace):  # pragma: no cover
    """Merge (rows, cols, vals) into a CSR matrix grown to ``n_rows`` rows, in O(nnz + m log m).

    Duplicates among the new entries and with old entries are resolved per pair: with
    ``replace`` the newest value wins (ratings: a re-rating replaces the old one), otherwise
    values add up (implicit weights). Entries of untouched rows are copied as they are.
    """
    m = len(rows)
    keys = rows.astype(np.int64) * n_cols + cols.astype(np.int64)
    order = np.argsort(keys, kind="mergesort")
    # Deduplicate the new entries (stable order: the last of equal keys is the newest).
    uk = np.empty(m, dtype=np.int64)
    uv = np.empty(m, dtype=np.float64)
    n_new = 0
    for t in range(m):
        k = keys[order[t]]
        v = vals[order[t]]
        if n_new > 0 and uk[n_new - 1] == k:
            uv[n_new - 1] = v if replace else uv[n_new - 1] + v
        else:
            uk[n_new] = k
            uv[n_new] = v
            n_new += 1
    # Start of each row's new entries.
    new_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    for t in range(n_new):
        new_ptr[uk[t] // n_cols + 1] += 1
    for r in range(n_rows):
        new_ptr[r + 1] += new_ptr[r]
    n_old_rows = len(indptr) - 1
    out_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    keep = np.ones(len(indices), dtype=np.bool_)
    for r in range(n_rows):
        lo, hi = new_ptr[r], new_ptr[r + 1]
        count = hi - lo
        if r < n_old_rows:
            for p in range(indptr[r], indptr[r + 1]):
                if hi > lo:
                    key = np.int64(r) * n_cols + indices[p]
                    pos = np.searchsorted(uk[lo:hi], key)
                    if pos < hi - lo and uk[lo + pos] == key:
                        keep[p] = False
                        if not replace:
                            uv[lo + pos] += data[p]
                        continue
                count += 1
        out_ptr[r + 1] = out_ptr[r] + count
    out_idx = np.empty(out_ptr[n_rows], dtype=np.int32)
    out_val = np.empty(out_ptr[n_rows], dtype=np.float64)
    for r in range(n_rows):
        w = out_ptr[r]
        if r < n_old_rows:
            for p in range(indptr[r], indptr[r + 1]):
                if keep[p]:
                    out_idx[w] = indices[p]
                    out_val[w] = data[p]
                    w += 1
        for t in range(new_ptr[r], new_ptr[r + 1]):
            out_idx[w] = uk[t] % n_cols
            out_val[w] = uv[t]
            w += 1
    return out_ptr, out_idx, out_val

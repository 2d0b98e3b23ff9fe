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

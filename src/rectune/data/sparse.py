"""Sparse building blocks over interaction rows: CSR by counting sort, CSR merge, compaction.

Compiled (numba) because models and the fine-tune driver call them on every fit and update:
`csr_from_pairs` groups (row, col, value) triples by row in O(n), `merge_csr` folds new rows
into a CSR matrix in O(nnz + m log m) and `compact` renumbers the ids present in a subset.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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

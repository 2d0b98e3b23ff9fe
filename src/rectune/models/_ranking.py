"""Top-n selection for `Recommender.recommend` and `Recommender.similar_items`.

Scores are computed in blocks of rows to bound memory; ties go to the lower item index.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from rectune.errors import ConfigError

#: Rows per block when scoring the full catalogue, to bound memory.
ROW_BLOCK = 1024


def check_n(n: object) -> None:
    """Refuse a list length that is not a whole number >= 1 (it would give empty lists)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"n must be a whole number >= 1 (items per list), got {n!r}")


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the n largest scores per row, best first (ties: lower index first)."""
    if n == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    if n < scores.shape[1]:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def ranked(
    rows: np.ndarray,
    n: int,
    n_items: int,
    score_rows: Callable[[np.ndarray], np.ndarray],
    *,
    masked: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``n`` items of each row of ``score_rows(block)``, as (indices, scores).

    ``masked`` (rows x items, indexed by the row values; -1 rows: nothing) marks items that
    may not be returned; ``candidates`` restricts the ranking to those item indices. Slots
    without a finite score hold index -1.
    """
    n = max(0, min(n, n_items if candidates is None else len(candidates)))
    out_idx = np.full((len(rows), n), -1, dtype=np.int64)
    out_sc = np.full((len(rows), n), -np.inf)
    for start in range(0, len(rows), ROW_BLOCK):
        block = rows[start : start + ROW_BLOCK]
        scores = score_rows(block)
        if masked is not None:
            hit, cols = _masked_cells(masked, block)
            scores[hit, cols] = -np.inf
        if candidates is not None:
            scores = scores[:, candidates]
        top = top_n(scores, n)
        out_sc[start : start + len(block)] = np.take_along_axis(scores, top, axis=1)
        out_idx[start : start + len(block)] = top if candidates is None else candidates[top]
    out_idx[~np.isfinite(out_sc)] = -1
    return out_idx, out_sc


def _masked_cells(masked: sp.csr_matrix, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row in ``block``, item) of every stored cell of the ``block`` rows of ``masked`` (-1
    rows: none), read straight from ``indptr``/``indices``: slicing the CSR matrix builds a
    new one, ~50 us, most of a one-user recommendation."""
    known = np.flatnonzero(block >= 0)
    rows = block[known]
    if len(rows) and rows.max() >= masked.shape[0]:
        raise IndexError(f"row {rows.max()} out of range for {masked.shape[0]} rows")
    starts, ends = masked.indptr[rows], masked.indptr[rows + 1]
    lengths = ends - starts
    if len(rows) == 1:
        return np.repeat(known, lengths), masked.indices[starts[0] : ends[0]]
    # positions start..end-1 of every row, concatenated, without a Python loop
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.repeat(known, lengths), masked.indices[offsets + np.arange(lengths.sum())]


def similarity_rows(
    items: np.ndarray, *, n_items: int, similarities: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Rows of ``similarities(known items)`` for item indices (-1: unknown, all -inf); an item
    is never similar to itself (its own column is -inf)."""
    out = np.full((len(items), n_items), -np.inf)
    known = np.flatnonzero(items >= 0)
    if len(known):
        out[known] = similarities(items[known])
        out[known, items[known]] = -np.inf
    return out


def cosine_rows(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine similarity of the listed rows of ``vectors`` with every row (zero rows: 0)."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1)
    norms[norms == 0] = 1.0
    unit = v / norms[:, None]
    return unit[rows] @ unit.T

"""Compiled helpers shared by several model families (imported only inside `rectune.models`).

- thread control: `numba_threads` (the one place ``TrainConfig.threads`` becomes numba's thread
  count), `resolve_threads`, `n_chunks`;
- counter-based random streams (splitmix64; Steele, Lea and Flood 2014): `mix`, `stream_key`,
  `next_random`, so kernels draw the same numbers whichever thread runs what;
- row layout: `padded` factor rows and `blocks`, a balanced assignment of rows to blocks;
- `als_bias_rows`, the closed-form bias step of the baselines and the kNN models.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit

#: Factor rows are zero-padded to a multiple of this many columns while training, so that the
#: vectorised main loops cover every factor (LLVM skips its vector body on short trip counts).
#: Zero columns stay exactly zero under every update here, so padding never changes the model.
PAD_TO = 8

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


# ------------------------------------------------------------------------------ threads
def resolve_threads(threads: int) -> int:
    """The thread count a `TrainConfig.threads` value means here (0: all cores)."""
    limit = numba.config.NUMBA_NUM_THREADS
    return limit if threads <= 0 else min(threads, limit)


@contextmanager
def numba_threads(threads: int) -> Iterator[None]:
    """Run compiled kernels on ``threads`` threads (0: all), restoring the setting afterwards."""
    old = numba.get_num_threads()
    numba.set_num_threads(resolve_threads(threads))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def n_chunks(n: int) -> int:
    """Work units for the parallel kernels: a few per thread, never more than the rows."""
    return max(1, min(n, 8 * numba.get_num_threads()))


# ------------------------------------------------------------------------------ random streams
@njit(cache=True, inline="always")
def mix(z):  # pragma: no cover - jit
    """splitmix64 finaliser (Steele, Lea and Flood 2014)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def stream_key(seed, epoch, block):  # pragma: no cover - jit
    """A 64-bit state for the random stream of one (seed, epoch, block)."""
    key = mix(np.uint64(seed) * GOLDEN + np.uint64(1))
    key = mix(key ^ (np.uint64(epoch) * GOLDEN + np.uint64(2)))
    return mix(key ^ (np.uint64(block) * GOLDEN + np.uint64(3)))


@njit(cache=True, inline="always")
def next_random(state):  # pragma: no cover - jit
    """The stream's next state and its 64 random bits."""
    state = state + GOLDEN
    return state, mix(state)


# ------------------------------------------------------------------------------ row layout
def padded(a: np.ndarray, multiple: int | None = None) -> np.ndarray:
    """``a`` with zero columns appended up to a multiple of ``multiple`` (default `PAD_TO`)."""
    m = PAD_TO if multiple is None else multiple
    width = -(-a.shape[1] // m) * m
    out = np.zeros((a.shape[0], width), dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


@njit(cache=True)
def balanced_blocks(counts, n_blocks, perm):  # pragma: no cover - jit
    """Assign rows (visited in ``perm`` order, largest first) to the lightest block (LPT)."""
    load = np.zeros(n_blocks, dtype=np.int64)
    out = np.empty(len(counts), dtype=np.int64)
    for x in perm:
        b = np.argmin(load)
        out[x] = b
        load[b] += counts[x]
    return out


def blocks(counts: np.ndarray, n_blocks: int) -> np.ndarray:
    """Block of each row, balancing the counts (largest rows first to the lightest block)."""
    perm = np.argsort(-counts, kind="stable")
    return balanced_blocks(counts, n_blocks, perm)


# ------------------------------------------------------------------------------ biases
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

"""Sampling steps of the synthetic process: arrivals, item tables, event draws, de-duplication."""

from __future__ import annotations

import numpy as np

_BUCKETS = 8
_CHUNK = 1_000_000
#: How strongly taste (vs popularity) steers which items a user interacts with.
TASTE_WEIGHT = 1.0


def _arrivals(rng: np.random.Generator, n: int, new_fraction: float) -> np.ndarray:
    """Arrival time in [0, 1) per id, sorted: old ids at 0, new ones spread over 0.2..0.95."""
    n_new = round(n * new_fraction)
    n_new = min(n_new, n - 1)
    late = np.sort(rng.uniform(0.2, 0.95, n_new))
    return np.concatenate([np.zeros(n - n_new), late])


def _item_tables(
    centers: np.ndarray,
    center_drift: np.ndarray,
    Q: np.ndarray,
    log_pop: np.ndarray,
    trend: np.ndarray,
    arrival: np.ndarray,
    drift: float,
) -> np.ndarray:
    """Cumulative item weights per (time bucket, cluster) block, items in arrival order.

    Weight = popularity x trend over time x freshness of new items x exp(taste of the drifted
    cluster centre), so that what a cluster interacts with changes over the span.
    """
    n_clusters, n_items = len(centers), len(Q)
    n_buckets = int(max(1, min(_BUCKETS, 2e7 // max(n_clusters * n_items, 1))))
    blocks = []
    for b in range(n_buckets):
        tau = (b + 0.5) / n_buckets
        taste = (centers + drift * tau * center_drift) @ Q.T.astype(np.float64)  # C x items
        age = np.maximum(tau - arrival, 0.0)
        fresh = np.where(arrival > 0, 2.0 * np.exp(-age / 0.05), 0.0)
        logits = log_pop + drift * tau * trend + np.log1p(fresh) + TASTE_WEIGHT * taste
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        blocks.append(np.cumsum(w, axis=1))
    return np.concatenate(blocks)


def _draw(
    rng: np.random.Generator,
    u: np.ndarray,
    user_arrival: np.ndarray,
    item_arrival: np.ndarray,
    cluster: np.ndarray,
    P: np.ndarray,
    P_drift: np.ndarray,
    Q: np.ndarray,
    drift: float,
    cum: np.ndarray,
    n_buckets: int,
    *,
    explore: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One event per entry of ``u``: (user, item, time in [0, 1), true dot product)."""
    m = len(u)
    n_clusters = len(cum) // n_buckets
    t = user_arrival[u] + (1 - user_arrival[u]) * rng.random(m)
    block = np.minimum((t * n_buckets).astype(np.int64), n_buckets - 1) * n_clusters + cluster[u]
    # Events are processed grouped by block: a small cumulative array per block keeps
    # `searchsorted` in cache. (Event order carries no meaning; duplicates are resolved by a
    # random priority in `_first_new`.)
    order = np.argsort(block.astype(np.int16 if len(cum) < 2**15 else np.int64), kind="stable")
    u, t, block = u[order], t[order], block[order]
    n_avail = np.searchsorted(item_arrival, t, side="right")  # items released by time t
    r = rng.random((2, m)) * cum[block, n_avail - 1]
    picks = np.empty((2, m), dtype=np.int32)
    bounds = np.searchsorted(block, np.arange(len(cum) + 1))
    for b in range(len(cum)):
        lo, hi = bounds[b], bounds[b + 1]
        if hi > lo:
            picks[:, lo:hi] = np.searchsorted(cum[b], r[:, lo:hi], side="right")
    picks = np.minimum(picks, n_avail - 1)
    # The user keeps the candidate they like more (with Gumbel noise): individual taste.
    d0 = _scores(u, picks[0], t, P, P_drift, Q, drift)
    d1 = _scores(u, picks[1], t, P, P_drift, Q, drift)
    second = d1 + rng.gumbel(size=m) > d0 + rng.gumbel(size=m)
    items = np.where(second, picks[1], picks[0])
    dot = np.where(second, d1, d0)
    if explore > 0:  # a share of uniform picks guarantees progress for very active users
        wander = np.flatnonzero(rng.random(m) < explore)
        items[wander] = (rng.random(len(wander)) * n_avail[wander]).astype(np.int32)
        dot[wander] = _scores(u[wander], items[wander], t[wander], P, P_drift, Q, drift)
    return u, items, t, dot


def _quotas(weights: np.ndarray, n: int, cap: int) -> np.ndarray:
    """Events per user proportional to ``weights``, capped at ``cap``, rounded up (sum >= n)."""
    q = n * weights / weights.sum()
    for _ in range(100):
        over = q > cap
        if not over.any():
            break
        excess = float((q[over] - cap).sum())
        q[over] = cap
        free = q < cap
        q[free] += excess * weights[free] / weights[free].sum()
    return np.minimum(np.ceil(q), cap).astype(np.int64)


def _first_new(rng: np.random.Generator, keys: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """Positions of one occurrence (chosen at random) of each key not in ``accepted``."""
    m = len(keys)
    if m == 0:
        return np.empty(0, dtype=np.int64)
    priority = rng.permutation(m)  # which of repeated draws is kept: a random one
    if int(keys.max()) < np.iinfo(np.int64).max // (m + 1):
        comp = np.sort(keys * m + priority)  # sort by key, then priority: one fast sort
        position = np.empty(m, dtype=np.int64)
        position[priority] = np.arange(m)
        k, pos = comp // m, position[comp % m]
    else:
        order = np.lexsort((priority, keys))
        k, pos = keys[order], order
    first = np.ones(m, dtype=bool)
    first[1:] = k[1:] != k[:-1]
    k, pos = k[first], pos[first]
    if len(accepted):
        at = np.minimum(np.searchsorted(accepted, k), len(accepted) - 1)
        pos = pos[accepted[at] != k]
    return pos


def _scores(
    u: np.ndarray,
    i: np.ndarray,
    t: np.ndarray,
    P: np.ndarray,
    P_drift: np.ndarray,
    Q: np.ndarray,
    drift: float,
) -> np.ndarray:
    """Dot products of drifted user factors and item factors, in chunks to bound memory."""
    out = np.empty(len(u), dtype=np.float64)
    for s in range(0, len(u), _CHUNK):
        sl = slice(s, s + _CHUNK)
        uu, ii = u[sl], i[sl]
        tt = (drift * t[sl]).astype(np.float32)[:, None]
        out[sl] = np.einsum("ij,ij->i", P[uu] + tt * P_drift[uu], Q[ii])
    return out

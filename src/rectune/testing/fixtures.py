"""Small synthetic datasets with known answers, for the conformance kit and unit tests."""

from __future__ import annotations

import numpy as np

from rectune.data.interactions import Interactions


def two_clusters(
    n_users: int = 40, n_items: int = 30, density: float = 0.5, seed: int = 0
) -> Interactions:
    """Two taste clusters: even users love even items (5) and dislike odd ones (1).

    Each user rates a random ``density`` share of the items; timestamps increase row by row.
    A good model ranks a user's unseen items of their own parity first.
    """
    rng = np.random.default_rng(seed)
    users, items, values = [], [], []
    for u in range(n_users):
        rated = np.flatnonzero(rng.random(n_items) < density)
        for i in rated:
            users.append(u)
            items.append(i)
            values.append(5.0 if (u % 2) == (i % 2) else 1.0)
    order = rng.permutation(len(users))
    users_a, items_a = np.asarray(users)[order], np.asarray(items)[order]
    values_a = np.asarray(values)[order] + rng.normal(0, 0.1, len(order)).round(1)
    ts = np.arange(len(order), dtype=np.int64) * 60 + 1_000_000_000
    return Interactions.from_raw(
        [f"u{u}" for u in users_a], items_a * 10 + 1, np.clip(values_a, 1, 5), ts
    )


def low_rank(
    n_users: int = 60,
    n_items: int = 50,
    rank: int = 3,
    density: float = 0.3,
    noise: float = 0.1,
    seed: int = 0,
) -> Interactions:
    """Ratings from a random rank-``rank`` matrix plus biases and noise, clipped to 1..5."""
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 0.7, (n_users, rank))
    q = rng.normal(0, 0.7, (n_items, rank))
    bu = rng.normal(0, 0.3, n_users)
    bi = rng.normal(0, 0.4, n_items)
    mask = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(mask)
    r = 3.5 + bu[u] + bi[i] + np.sum(p[u] * q[i], axis=1) + rng.normal(0, noise, len(u))
    ts = rng.permutation(len(u)).astype(np.int64) + 1_500_000_000
    return Interactions.from_raw(u, i + 1000, np.clip(r, 1, 5), ts)

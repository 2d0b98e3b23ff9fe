"""`checkerboard`: a tiny data set with an obvious answer (two taste clusters)."""

from __future__ import annotations

import numpy as np

from rectune.data.interactions import Interactions


def checkerboard(
    n_users: int = 20,
    n_items: int = 20,
    *,
    density: float = 0.6,
    implicit: bool = False,
    seed: int = 0,
) -> Interactions:
    """Two taste clusters liking two disjoint item clusters: a known-answer data set.

    Users ``u0..`` with an even number are in cluster 0, odd ones in cluster 1; items ``0..``
    split the same way by parity. Each user sees a random ``density`` share of the items, but
    never all items of their own cluster, so every user has unseen items of their own cluster.
    Explicit data rates own-cluster items 5 and the others 1; implicit data holds only
    own-cluster items with weight 1. A working recommender ranks a user's unseen items of the
    own cluster first: ``meta["withheld"]`` maps each user to those items (the answer).

    Examples
    --------
    >>> data = checkerboard(4, 6, seed=0)
    >>> sorted(set(data.values.tolist()))
    [1.0, 5.0]
    >>> all(int(i) % 2 == int(u[1:]) % 2 for u, items in data.meta["withheld"].items()
    ...     for i in items)
    True
    """
    if n_users < 2 or n_items < 4:
        raise ValueError("checkerboard needs at least 2 users and 4 items")
    rng = np.random.default_rng(seed)
    uc = np.arange(n_users) % 2
    ic = np.arange(n_items) % 2
    seen = rng.random((n_users, n_items)) < density
    same = uc[:, None] == ic[None, :]
    withheld: dict[str, list[int]] = {}
    for u in range(n_users):
        own = np.flatnonzero(same[u])  # at least 2 items
        s = seen[u, own]
        if s.all():
            s[rng.integers(len(own))] = False
        if not s.any():
            s[rng.integers(len(own))] = True
        seen[u, own] = s
        withheld[f"u{u}"] = [int(i) for i in own[~s]]
    if implicit:
        seen &= same
    users, items = np.nonzero(seen)
    values = np.where(same[users, items], 5.0, 1.0) if not implicit else np.ones(len(users))
    order = rng.permutation(len(users))
    users, items, values = users[order], items[order], values[order]
    data = Interactions.from_raw(
        np.array([f"u{u}" for u in users], dtype=object),
        items.astype(np.int64),
        values,
        1_600_000_000 + np.arange(len(users), dtype=np.int64) * 60,
        kind="weight" if implicit else "rating",
        source="checkerboard",
    )
    data.meta.update(
        format="checkerboard",
        withheld=withheld,
        user_cluster={f"u{u}": int(c) for u, c in enumerate(uc)},
        item_cluster={int(i): int(c) for i, c in enumerate(ic)},
        bad_rows=0,
    )
    return data

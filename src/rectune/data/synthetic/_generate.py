"""`generate`: the latent-factor process of `rectune.data.synthetic`, sizes in, data out."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.data.synthetic._sampling import (
    _arrivals,
    _draw,
    _first_new,
    _item_tables,
    _quotas,
)
from rectune.data.synthetic._side import GENRES, _item_genres_year, _item_text, _user_features

log = logging.getLogger(__name__)

#: 2020-01-01 00:00:00 UTC, the start of the synthetic time span.
START = 1_577_836_800


def generate(
    n_users: int = 1000,
    n_items: int = 500,
    n_interactions: int = 50_000,
    embedding_size: int = 16,
    *,
    seed: int | np.random.Generator = 0,
    implicit: bool = False,
    popularity_skew: float = 0.8,
    drift: float = 0.3,
    new_user_fraction: float = 0.1,
    new_item_fraction: float = 0.1,
    with_text: bool = True,
    with_features: bool = True,
    rating_scale: tuple[float, float] = (1, 5),
    rating_step: float = 1.0,
    n_clusters: int = 8,
    noise: float = 0.5,
    span_days: int = 730,
) -> Interactions:
    """Draw a synthetic data set from latent factors (see the module docstring).

    Parameters
    ----------
    n_users, n_items, n_interactions
        Sizes; every (user, item) pair occurs at most once. At most half of all pairs can be
        drawn. Users or items that draw no event are absent from the id maps.
    embedding_size
        Dimension of the true user and item factors.
    seed
        Seed or Generator; the same seed gives the same data.
    implicit
        Positive counts (kind ``"weight"``) instead of ratings.
    popularity_skew
        Exponent of the Zipf-like item popularity (0 = uniform).
    drift
        Strength of taste drift (users) and popularity drift (items) over the time span.
    new_user_fraction, new_item_fraction
        Share of users/items arriving during the span (the rest exist from the start). New ids
        are numbered after old ones, in arrival order, as a live system would.
    with_text, with_features
        Build item text and user/item features.
    rating_scale, rating_step
        Range and resolution of ratings.
    n_clusters
        Number of user taste clusters (also drives the occupation feature).
    noise
        Standard deviation of the rating noise (in score units, before scaling).
    span_days
        Length of the time span, starting 2020-01-01.

    Returns
    -------
    Interactions
        Sorted by timestamp. ``meta["truth"]`` holds the true factors, clusters and arrival
        times (row ``k`` is raw id ``k + 1``).

    Examples
    --------
    >>> data = generate(n_users=50, n_items=40, n_interactions=500, seed=1)
    >>> len(data), data.kind, bool((data.values >= 1).all() and (data.values <= 5).all())
    (500, 'rating', True)
    >>> again = generate(n_users=50, n_items=40, n_interactions=500, seed=1)
    >>> data.fingerprint() == again.fingerprint()
    True
    """
    if min(n_users, n_items, embedding_size, n_interactions) < 1:
        raise ValueError("n_users, n_items, n_interactions and embedding_size must be >= 1")
    if n_interactions > 0.5 * n_users * n_items:
        raise ValueError(
            f"n_interactions={n_interactions} is more than half of the "
            f"{n_users} x {n_items} possible pairs"
        )
    if not (0 <= new_user_fraction < 1 and 0 <= new_item_fraction < 1):
        raise ValueError("new_user_fraction and new_item_fraction must be in [0, 1)")
    if rating_scale[1] <= rating_scale[0]:
        raise ValueError("rating_scale must be (low, high) with low < high")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    k = embedding_size
    n_clusters = max(1, min(n_clusters, n_users))
    sigma = k**-0.25  # factor entries of this scale give dot products of unit variance

    # ---- latent structure (row index = raw id - 1, in arrival order)
    user_arrival = _arrivals(rng, n_users, new_user_fraction)
    item_arrival = _arrivals(rng, n_items, new_item_fraction)
    centers = rng.normal(0, 0.8 * sigma, (n_clusters, k))
    center_drift = rng.normal(0, sigma, (n_clusters, k))
    cluster = rng.integers(0, n_clusters, n_users)
    P = (centers[cluster] + rng.normal(0, 0.6 * sigma, (n_users, k))).astype(np.float32)
    P_drift = (center_drift[cluster] + rng.normal(0, 0.5 * sigma, (n_users, k))).astype(np.float32)
    Q = rng.normal(0, sigma, (n_items, k)).astype(np.float32)
    ranks = rng.permutation(n_items) + 1.0
    popularity = ranks**-popularity_skew
    log_pop = np.log(popularity)
    trend = rng.normal(0, 1, n_items)  # items rising (> 0) or falling in popularity
    user_bias = rng.normal(0, 0.3, n_users)
    item_bias = 0.3 * (log_pop - log_pop.mean()) / (log_pop.std() + 1e-12) + rng.normal(
        0, 0.3, n_items
    )
    activity = rng.lognormal(0, 1, n_users) * (1 - user_arrival)
    side_rng = np.random.default_rng(rng.integers(0, 2**63))  # side data never shifts the rows

    # ---- per (time bucket, cluster) item distributions over items in arrival order
    cum = _item_tables(centers, center_drift, Q, log_pop, trend, item_arrival, drift)
    n_buckets = len(cum) // n_clusters

    # ---- draw events per user quota until enough distinct pairs
    n_old_items = int((item_arrival == 0).sum())
    cap = max(1, int(0.4 * n_old_items))  # no user sees more than 40% of the catalogue
    if cap * n_users < n_interactions:
        raise ValueError(
            f"n_interactions={n_interactions} needs more than 40% of the {n_old_items} items "
            f"available from the start per user; lower it or add items"
        )
    quotas = _quotas(activity, n_interactions, cap)
    accepted = np.empty(0, dtype=np.int64)  # sorted keys user * n_items + item
    have = np.zeros(n_users, dtype=np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for round_ in range(40):
        if have.sum() >= n_interactions:
            break
        deficit = np.maximum(quotas - have, 0)
        counts = np.ceil(deficit * (1.1 + 0.1 * round_)).astype(np.int64)
        u = np.repeat(np.arange(n_users, dtype=np.int32), counts)
        u, i, t, dot = _draw(
            rng, u, user_arrival, item_arrival, cluster, P, P_drift, Q, drift,
            cum, n_buckets, explore=min(0.05 * round_, 0.5),
        )  # fmt: skip
        new = _first_new(rng, u.astype(np.int64) * n_items + i, accepted)
        accepted = np.sort(np.concatenate([accepted, u[new].astype(np.int64) * n_items + i[new]]))
        have += np.bincount(u[new], minlength=n_users)
        parts.append((u[new], i[new], t[new], dot[new]))
        log.debug("round %d: drew %d, kept %d", round_, len(u), len(new))
    else:
        raise ValueError("could not draw enough distinct pairs; lower n_interactions")
    del accepted
    u = np.concatenate([p[0] for p in parts])
    i = np.concatenate([p[1] for p in parts])
    t = np.concatenate([p[2] for p in parts])
    dot = np.concatenate([p[3] for p in parts])
    del parts
    if len(u) > n_interactions:  # quotas are rounded up: drop the surplus at random
        keep = rng.permutation(len(u))[:n_interactions]
        u, i, t, dot = u[keep], i[keep], t[keep], dot[keep]
    order = np.argsort(t)
    u, i, t, dot = u[order], i[order], t[order], dot[order]

    # ---- values
    score = dot + user_bias[u] + item_bias[i]
    score += drift * 0.3 * t * trend[i] + rng.normal(0, noise, len(u))
    z = (score - score.mean()) / (score.std() + 1e-12)
    if implicit:
        values = 1.0 + rng.poisson(np.exp(np.clip(0.5 + 0.8 * z, -5, 6)))
    else:
        lo, hi = rating_scale
        raw = lo + (hi - lo) * (0.63 + 0.27 * z)  # about MovieLens: mean 3.5, sd 1.1 on 1..5
        values = np.clip(np.round((raw - lo) / rating_step) * rating_step + lo, lo, hi)
    timestamps = START + (t * span_days * 86_400).astype(np.int64)

    user_map, users = IdMap.factorize(u.astype(np.int64) + 1)
    item_map, items = IdMap.factorize(i.astype(np.int64) + 1)
    side: dict[str, Any] = {}
    genres, year = _item_genres_year(side_rng, Q, item_arrival, span_days)
    item_index = pd.Index(np.arange(1, n_items + 1, dtype=np.int64), name="item_id")
    if with_features:
        side["user_features"] = _user_features(side_rng, P, cluster)
        side["item_features"] = pd.DataFrame(genres, columns=list(GENRES), index=item_index)
        side["item_features"]["year"] = year
    if with_text:
        side["item_text"] = _item_text(side_rng, genres, year, item_index)
    params = {
        "n_users": n_users,
        "n_items": n_items,
        "n_interactions": n_interactions,
        "embedding_size": k,
        "seed": seed if isinstance(seed, int) else None,
        "implicit": implicit,
        "popularity_skew": popularity_skew,
        "drift": drift,
        "new_user_fraction": new_user_fraction,
        "new_item_fraction": new_item_fraction,
        "rating_scale": list(rating_scale),
        "rating_step": rating_step,
        "n_clusters": n_clusters,
        "noise": noise,
        "span_days": span_days,
    }
    truth = {
        "user_factors": P,
        "item_factors": Q,
        "user_cluster": cluster,
        "user_arrival": START + (user_arrival * span_days * 86_400).astype(np.int64),
        "item_arrival": START + (item_arrival * span_days * 86_400).astype(np.int64),
    }
    data = Interactions(
        users,
        items,
        values,
        user_map,
        item_map,
        timestamps,
        kind="weight" if implicit else "rating",
        source="synthetic",
        meta={"format": "synthetic", "params": params, "truth": truth, "bad_rows": 0},
        **side,
    )
    log.info("generated %r in %.2fs", data, time.perf_counter() - started)
    return data

"""Synthetic interaction data with a known generating process, for tests, demos and benchmarks.

`generate` draws users and items from latent taste factors, makes item popularity Zipf-like, lets
tastes and popularity drift over time, brings new users and items in late, and derives side
information (user demographics, item genres and year, item text) from the same factors, so that
features and text carry real signal. `checkerboard` is a tiny data set with an obvious answer.

The process (all steps vectorised; 10M interactions take seconds and about 2 GB):

1. Users belong to taste clusters; a user's factors are the cluster centre plus noise. Item
   factors are Gaussian; genres are the genre directions an item's factors point along.
2. Each event picks a user (log-normal activity), a time after the user's arrival, and an item
   among those already released: two candidates are drawn from the user's cluster distribution at
   that time (popularity x exp(taste), with drifting tastes and rising/falling items) and the one
   the user likes more is kept. Repeated (user, item) pairs are dropped.
3. Ratings are noisy biased dot products of the drifted factors, rounded and clipped to the
   scale; implicit weights are Poisson counts growing with the same score.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions

log = logging.getLogger(__name__)

GENRES = (
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Family",
    "Fantasy", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    "Noir",
)  # fmt: skip
#: Title words that go with each genre, so that item text is informative about taste.
GENRE_WORDS = (
    ("Fury", "Strike", "Bullet", "Vengeance", "Edge"),
    ("Quest", "Voyage", "Island", "Treasure", "Frontier"),
    ("Dragon", "Toy", "Bunny", "Cartoon", "Robot"),
    ("Wedding", "Party", "Roommates", "Blunder", "Vacation"),
    ("Heist", "Mob", "Con", "Getaway", "Racket"),
    ("Planet", "Truth", "Inside", "Archive", "Chronicle"),
    ("Silence", "Promise", "Letters", "Winter", "Family"),
    ("Puppy", "Holiday", "Grandma", "Backyard", "Sunshine"),
    ("Wizard", "Kingdom", "Spell", "Realm", "Crown"),
    ("Curse", "Shadow", "Cellar", "Scream", "Haunting"),
    ("Melody", "Broadway", "Rhythm", "Song", "Dance"),
    ("Secret", "Clue", "Riddle", "Stranger", "Puzzle"),
    ("Heart", "Kiss", "Summer", "Love", "Moonlight"),
    ("Galaxy", "Android", "Orbit", "Nebula", "Quantum"),
    ("Pursuit", "Hostage", "Trap", "Deadline", "Witness"),
    ("Battalion", "Trench", "Front", "Siege", "Medal"),
    ("Outlaw", "Saddle", "Canyon", "Sheriff", "Ranch"),
    ("Rain", "Dame", "Alley", "Smoke", "Neon"),
)
OCCUPATIONS = (
    "student", "engineer", "artist", "educator", "healthcare", "programmer", "sales",
    "retired", "writer", "scientist", "lawyer", "homemaker",
)  # fmt: skip
_SYLLABLES = np.array(
    "ka lo mi ra ven tor sel da rin mo ba lu zen cor fi nal sa ter vo li an dra mer qui po".split(),
    dtype=object,
)
#: 2020-01-01 00:00:00 UTC, the start of the synthetic time span.
START = 1_577_836_800
_BUCKETS = 8
_CHUNK = 1_000_000
#: How strongly taste (vs popularity) steers which items a user interacts with.
TASTE_WEIGHT = 1.0


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


# ---------------------------------------------------------------------------------- helpers
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


def _user_features(rng: np.random.Generator, P: np.ndarray, cluster: np.ndarray) -> pd.DataFrame:
    """Age, gender and occupation, each correlated with the user's factors or cluster."""
    n, k = P.shape
    z = (P - P.mean(axis=0)) / (P.std(axis=0) + 1e-9)
    age = np.clip(np.round(34 + 9 * z[:, 0] + rng.normal(0, 6, n)), 13, 80).astype(np.int64)
    gender = np.where(z[:, min(1, k - 1)] + rng.normal(0, 0.7, n) > 0, "F", "M")
    occ = cluster % len(OCCUPATIONS)
    swap = rng.random(n) < 0.25
    occ = np.where(swap, rng.integers(0, len(OCCUPATIONS), n), occ)
    return pd.DataFrame(
        {
            "age": age,
            "gender": pd.Categorical(gender, categories=["F", "M"]),
            "occupation": pd.Categorical(np.asarray(OCCUPATIONS, object)[occ]),
        },
        index=pd.Index(np.arange(1, n + 1, dtype=np.int64), name="user_id"),
    )


def _item_genres_year(
    rng: np.random.Generator, Q: np.ndarray, arrival: np.ndarray, span_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Genre flags (the genre directions an item's factors point along) and release year."""
    n, k = Q.shape
    directions = rng.normal(0, 1, (len(GENRES), k)).astype(np.float32)
    fit = Q @ directions.T
    order = np.argsort(-fit, axis=1)
    flags = np.zeros((n, len(GENRES)), dtype=np.int8)
    flags[np.arange(n), order[:, 0]] = 1
    second = fit[np.arange(n), order[:, 1]] > np.quantile(fit, 0.9)
    flags[np.flatnonzero(second), order[second, 1]] = 1
    z0 = (Q[:, 0] - Q[:, 0].mean()) / (Q[:, 0].std() + 1e-9)
    old = 2019 - np.minimum(rng.exponential(12, n), 89) + 4 * z0
    new = 2020 + arrival * span_days / 365.25
    year = np.floor(np.where(arrival > 0, new, np.clip(old, 1930, 2019)))
    return flags, year


def _item_text(
    rng: np.random.Generator, flags: np.ndarray, year: np.ndarray, index: pd.Index
) -> pd.Series:
    """``"Strike Ravendra (1994) | Action, Thriller"``: a genre word, a made-up name, genres."""
    n = len(flags)
    primary = np.argmax(flags, axis=1)
    word_idx = rng.integers(0, 5, n)
    syl = _SYLLABLES[rng.integers(0, len(_SYLLABLES), (n, 3))]
    n_syl = rng.integers(2, 4, n)
    names = np.asarray(GENRES, dtype=object)
    texts = [
        f"{GENRE_WORDS[g][w]} {''.join(s[:c]).capitalize()} ({int(y)}) | "
        f"{', '.join(names[f.astype(bool)])}"
        for g, w, s, c, y, f in zip(primary, word_idx, syl, n_syl, year, flags, strict=True)
    ]
    return pd.Series(texts, index=index, name="text", dtype=object)

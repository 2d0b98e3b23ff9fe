"""The popularity prior of `TextRecommender`: how much a user of a given history length leans
on popularity.

Scores are ``cosine(user, item) + w[b(n_u)] * log1p(count_i)``, with ``n_u`` the user's number
of interactions, ``b`` its bucket (`EDGES`: 1, 2-3, 4-7, ..., 64+) and ``count_i`` the item's
interactions in the data the model has seen. A user with one item says little about their
taste, and popularity is then the stronger signal (the few-shot transfer benchmark: popularity
0.37 NDCG@10 vs 0.23 for the fine-tuned text model at one interaction); a rich history is
better served by the text. The weights are chosen, not guessed: before training, `plan` holds
out the last interaction of up to ``prior_users`` training users (kept out of the training
pairs); after training, `choose` rebuilds each held-out user from the ``h`` interactions right
before it, ``h`` drawn within each bucket, and picks per bucket the weight of `GRID` with the
best NDCG@10 of the held-out item, ranked against the catalogue with the user's other items
excluded and popularity counted without the held-out rows. Buckets with fewer than
`MIN_USERS` such users keep the previous weight (fine-tuning: the parent's) or, in a fit, take
the nearest chosen bucket's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: Lower edges of the history-length buckets: bucket b holds ``EDGES[b] <= n_u < EDGES[b+1]``.
EDGES = np.array([1, 2, 4, 8, 16, 32, 64])
#: Candidate weights per bucket (cosines are within [-1, 1]; 6 makes popularity dominate).
GRID = np.concatenate([[0.0], 0.003 * 2.0 ** np.arange(12)])
#: Held-out users a bucket needs before its weight is chosen from them.
MIN_USERS = 30
#: Largest history a rebuilt user of the last bucket gets (its n_u is drawn up to this).
_TOP = 256


def bucket_of(n: np.ndarray) -> np.ndarray:
    """Bucket index of each history length (0 and 1 share the first bucket)."""
    return np.clip(np.searchsorted(EDGES, n, side="right") - 1, 0, len(EDGES) - 1)


@dataclass
class Plan:
    """Held-out interactions of one training run (model indices)."""

    users: np.ndarray
    targets: np.ndarray
    """The held-out (last) item of each user."""
    before: list[np.ndarray]
    """Each user's distinct other items before the target, oldest first."""
    codes: np.ndarray
    """``user * n_items + item`` of the held-out pairs (every row of them leaves training)."""
    candidates: np.ndarray
    """Items the held-out ones are ranked against (the run's catalogue)."""
    seed: int
    previous: np.ndarray | None
    """The weights before this run (fine-tuning: the parent's; a fit: None)."""


def plan(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray | None,
    n_items: int,
    candidates: np.ndarray,
    max_users: int,
    seed: int,
    previous: np.ndarray | None = None,
) -> Plan | None:
    """Hold out the last interaction of up to ``max_users`` users with two or more distinct
    items (None: no such user)."""
    if not len(users):
        return None
    key = np.arange(len(users)) if timestamps is None else timestamps
    order = np.lexsort((np.arange(len(users)), key, users))
    u_sorted, i_sorted = users[order], items[order]
    starts = np.flatnonzero(np.r_[True, u_sorted[1:] != u_sorted[:-1]])
    ends = np.r_[starts[1:], len(u_sorted)]
    rng = np.random.default_rng([seed, 11])
    chosen_u, targets, before = [], [], []
    for s in rng.permutation(len(starts)):
        seq = i_sorted[starts[s] : ends[s]]
        target = seq[-1]
        rest = seq[seq != target]
        if not len(rest):
            continue
        _, last = np.unique(rest[::-1], return_index=True)
        rest = rest[::-1][np.sort(last)][::-1]  # distinct, by last occurrence, oldest first
        chosen_u.append(u_sorted[starts[s]])
        targets.append(target)
        before.append(rest)
        if len(chosen_u) >= max_users:
            break
    if not chosen_u:
        return None
    u, t = np.array(chosen_u, np.int64), np.array(targets, np.int64)
    cand = np.union1d(candidates, t)
    return Plan(u, t, before, u * n_items + t, cand, seed, previous)


def holdout_mask(p: Plan | None, users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """True for rows a training run keeps (not a held-out pair)."""
    if p is None:
        return np.ones(len(users), bool)
    return ~np.isin(users.astype(np.int64) * n_items + items, p.codes)


def choose(
    p: Plan,
    user_vectors: Callable[[np.ndarray, list[np.ndarray]], np.ndarray],
    item_vectors: np.ndarray,
    counts: np.ndarray,
    seen: sp.csr_matrix,
) -> tuple[np.ndarray, np.ndarray]:
    """Weight per bucket and how many held-out users chose it (0: kept/inherited).

    ``user_vectors(users, histories)`` gives unit user-tower vectors of rebuilt users;
    ``counts`` are the item counts of everything the model has seen (the held-out rows are
    taken out here); ``seen`` the user x item matrix (other items of a user are excluded).
    """
    n_items = len(counts)
    held = np.bincount(p.targets, minlength=n_items).astype(np.float64)
    logpop = np.log1p(np.maximum(counts - held, 0.0))[p.candidates]
    cand_pos = np.full(n_items, -1, np.int64)
    cand_pos[p.candidates] = np.arange(len(p.candidates))
    lengths = np.array([len(b) for b in p.before])
    rng = np.random.default_rng([p.seed, 13])
    previous = p.previous
    weights = np.zeros(len(EDGES)) if previous is None else np.asarray(previous, float).copy()
    n_users = np.zeros(len(EDGES), np.int64)
    for b, lo in enumerate(EDGES):
        hi = EDGES[b + 1] - 1 if b + 1 < len(EDGES) else _TOP
        rows = np.flatnonzero(lengths >= lo)
        if len(rows) < MIN_USERS:
            continue
        h = rng.integers(lo, np.minimum(lengths[rows], hi) + 1)
        hists = [p.before[r][-k:] for r, k in zip(rows, h, strict=True)]
        scores = user_vectors(p.users[rows], hists) @ item_vectors[p.candidates].T
        other = seen[p.users[rows]].tocoo()
        col = cand_pos[other.col]
        ok = (col >= 0) & (other.col != p.targets[rows][other.row])
        scores[other.row[ok], col[ok]] = -np.inf
        target = cand_pos[p.targets[rows]]
        weights[b] = GRID[int(np.argmax([_ndcg(scores, target, w * logpop) for w in GRID]))]
        n_users[b] = len(rows)
    if previous is None and n_users.any():  # a fit: unchosen buckets take the nearest chosen
        done = np.flatnonzero(n_users)
        nearest = done[np.abs(np.arange(len(EDGES))[:, None] - done[None, :]).argmin(1)]
        weights = weights[nearest]
    return weights, n_users


def _ndcg(scores: np.ndarray, target: np.ndarray, shift: np.ndarray) -> float:
    """Mean NDCG@10 of one relevant item per row under ``scores + shift`` (ties broken at
    random in expectation: half of the tied items count as ranked above the target)."""
    s = scores + shift[None, :]
    t = s[np.arange(len(target)), target][:, None]
    rank = (s > t).sum(1) + 0.5 * ((s == t).sum(1) - 1)
    return float(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).mean())

"""Numba kernels of `BPR` (Rendle et al. 2009).

``P`` user factors, ``Q`` item factors, ``bi`` item biases, a step per (user, positive,
negative) triple. Randomness comes from the counter-based splitmix64 streams of
`rectune.models._shared`, never from thread-local state, so a serial run is bit-reproducible.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rectune.models._shared import next_random, stream_key


# ---------------------------------------------------------------------------------------- BPR
@njit(cache=True, inline="always")
def _liked(indptr, indices, u, j):  # pragma: no cover - jit
    """Whether sorted CSR row ``u`` holds column ``j`` (binary search)."""
    lo = indptr[u]
    hi = indptr[u + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo < indptr[u + 1] and indices[lo] == j


@njit(cache=True, fastmath=True, inline="always")
def _bpr_step(u, i, j, P, Q, bi, lr, reg):  # pragma: no cover - jit
    """One BPR-Opt SGD step on (u, i, j) (Rendle et al. 2009, eq. 7 with item biases).

    Returns ``x_uij`` before the step and the ``exp(x)`` and ``1 / (1 + exp(x))`` it used.
    """
    k = P.shape[1]
    pu = P[u]
    qi = Q[i]
    qj = Q[j]
    x = bi[i] - bi[j]
    for f in range(k):
        x += pu[f] * (qi[f] - qj[f])
    ex = np.exp(x)
    z = np.float32(1.0) / (np.float32(1.0) + ex)
    for f in range(k):
        puf = pu[f]
        qif = qi[f]
        qjf = qj[f]
        pu[f] += lr * (z * (qif - qjf) - reg * puf)
        qi[f] += lr * (z * puf - reg * qif)
        qj[f] += lr * (-z * puf - reg * qjf)
    bi[i] += lr * (z - reg * bi[i])
    bi[j] += lr * (-z - reg * bi[j])
    return x, ex, z


@njit(cache=True, fastmath=True)
def _bpr_block(
    users, items, lo, hi, pool, tries, sp_ptr, sp_idx, P, Q, bi, lr, reg, state
):  # pragma: no cover - jit
    """Rows lo..hi-1 (one user block) in a fresh shuffle, negatives drawn from ``pool``.

    A negative the user has liked is redrawn, up to ``tries`` draws in all; a row whose draws
    all hit liked items is skipped (``tries=1``: implicit's ``verify_negative_samples``).
    Returns (sum of the triples' BPR losses ``-ln sigmoid(x_uij)`` before their steps, triples
    stepped on, triples already ranked right). The loss costs no logarithm per triple: the
    sigmoids ``e^x / (1 + e^x)`` the steps computed are multiplied in float64 and the product's
    log taken when it gets small; margins beyond the float32 range of ``e^x`` add ``e^-x``
    (x > 15) or ``-x`` (x < -80); each term is exact to float32 rounding (~1e-7).
    """
    correct = 0
    steps = 0
    loss = 0.0
    prod = 1.0
    n_pool = np.uint64(len(pool))
    for k in range(hi - 1, lo, -1):  # Fisher-Yates shuffle of the block's rows
        state, z = next_random(state)
        m = lo + np.int64(z % np.uint64(k - lo + 1))
        users[k], users[m] = users[m], users[k]
        items[k], items[m] = items[m], items[k]
    for r in range(lo, hi):
        u = users[r]
        i = items[r]
        j = -1
        for _ in range(tries):
            state, z = next_random(state)
            cand = pool[np.int64(z % n_pool)]
            if not _liked(sp_ptr, sp_idx, u, cand):
                j = cand
                break
        if j < 0:
            continue
        x, ex, zz = _bpr_step(u, i, j, P, Q, bi, lr, reg)
        steps += 1
        if x > 0:
            correct += 1
        if x > 15.0:
            loss += 1.0 / np.float64(ex)
        elif x < -80.0:
            loss -= np.float64(x)
        else:
            prod *= np.float64(ex) * np.float64(zz)
            if prod < 1e-280:
                loss -= np.log(prod)
                prod = 1.0
    return loss - np.log(prod), steps, correct


@njit(cache=True, fastmath=True)
def bpr_epochs(
    users,
    items,
    offsets,
    pool,
    tries,
    sp_ptr,
    sp_idx,
    P,
    Q,
    bi,
    lr,
    reg,
    first_epoch,
    epochs,
    seed,
    stats,
):  # pragma: no cover - jit
    """BPR SGD epochs ``first_epoch .. epochs - 1`` on one thread, bit-reproducible for a seed.

    Rows are grouped by user block (``offsets``); every epoch each block is reshuffled with
    its own random stream (keyed by seed, epoch and block) and each positive gets one negative
    from ``pool`` (every item once: uniform; every interaction's item: popularity), redrawn
    while liked up to ``tries`` draws (see `_bpr_block`). Calling it once per epoch gives the
    same model as one call. ``stats`` (float64[3]) receives the last epoch's summed BPR loss,
    triples stepped on and triples already ranked correctly.
    """
    for ep in range(first_epoch, epochs):
        stats[:] = 0.0
        for b in range(len(offsets) - 1):
            state = stream_key(seed, ep, b)
            loss, steps, correct = _bpr_block(
                users,
                items,
                offsets[b],
                offsets[b + 1],
                pool,
                tries,
                sp_ptr,
                sp_idx,
                P,
                Q,
                bi,
                lr,
                reg,
                state,
            )
            stats[0] += loss
            stats[1] += steps
            stats[2] += correct


@njit(cache=True, fastmath=True, parallel=True)
def bpr_epochs_parallel(
    users,
    items,
    offsets,
    pool,
    tries,
    sp_ptr,
    sp_idx,
    P,
    Q,
    bi,
    lr,
    reg,
    first_epoch,
    epochs,
    seed,
    stats,
):  # pragma: no cover - jit
    """`bpr_epochs` with the user blocks on parallel threads, one barrier per epoch.

    User rows are owned by one thread; item rows are updated lock-free (Hogwild, Recht et al.
    2011), as in implicit, so results may differ in the last bits between runs.
    """
    n_blocks = len(offsets) - 1
    per_block = np.zeros((n_blocks, 3))
    for ep in range(first_epoch, epochs):
        for b in prange(n_blocks):
            state = stream_key(seed, ep, b)
            loss, steps, correct = _bpr_block(
                users,
                items,
                offsets[b],
                offsets[b + 1],
                pool,
                tries,
                sp_ptr,
                sp_idx,
                P,
                Q,
                bi,
                lr,
                reg,
                state,
            )
            per_block[b, 0] = loss
            per_block[b, 1] = steps
            per_block[b, 2] = correct
    for c in range(3):
        stats[c] = per_block[:, c].sum()


@njit(cache=True, fastmath=True)
def bpr_finetune_epoch(
    users,
    items,
    order,
    pool,
    n_neg,
    sp_ptr,
    sp_idx,
    P,
    Q,
    bi,
    P0,
    Q0,
    b0,
    lr_p,
    lr_q,
    lr_b,
    reg,
    lam_p,
    lam_q,
    lam_b,
    clip,
    seed,
):  # pragma: no cover - jit
    """One sequential BPR epoch over ``order`` honouring a fine-tuning strategy.

    A learning rate of 0 freezes a group. L2-SP ``lam ||theta - theta0||^2`` is a proximal step
    ``theta <- (theta' + 2 lr lam theta0) / (1 + 2 lr lam)`` on every row a step touched (stable
    for any lambda; a huge one keeps the parent). ``clip`` > 0 bounds the L2 norm of each row's
    gradient. ``n_neg`` negatives per positive are drawn from ``pool``.
    """
    k = P.shape[1]
    state = stream_key(seed, 0, 0)
    n_pool = np.uint64(len(pool))
    gu = np.empty(k, dtype=np.float32)
    gi = np.empty(k, dtype=np.float32)
    gj = np.empty(k, dtype=np.float32)
    for r in order:
        u = users[r]
        i = items[r]
        for _ in range(n_neg):
            j = -1
            for _t in range(8):
                state, z = next_random(state)
                cand = pool[np.int64(z % n_pool)]
                if cand != i and not _liked(sp_ptr, sp_idx, u, cand):
                    j = cand
                    break
            if j < 0:
                continue
            x = bi[i] - bi[j]
            for f in range(k):
                x += P[u, f] * (Q[i, f] - Q[j, f])
            zz = 1.0 / (1.0 + np.exp(x))
            for f in range(k):
                gu[f] = zz * (Q[i, f] - Q[j, f]) - reg * P[u, f]
                gi[f] = zz * P[u, f] - reg * Q[i, f]
                gj[f] = -zz * P[u, f] - reg * Q[j, f]
            g_bi = zz - reg * bi[i]
            g_bj = -zz - reg * bi[j]
            if clip > 0:
                _clip(gu, clip)
                _clip(gi, clip)
                _clip(gj, clip)
                g_bi = max(-clip, min(clip, g_bi))
                g_bj = max(-clip, min(clip, g_bj))
            if lr_p > 0:
                _prox_row(P[u], gu, P0[u], lr_p, lam_p)
            if lr_q > 0:
                _prox_row(Q[i], gi, Q0[i], lr_q, lam_q)
                _prox_row(Q[j], gj, Q0[j], lr_q, lam_q)
            if lr_b > 0:
                bi[i] = (bi[i] + lr_b * g_bi + 2 * lr_b * lam_b * b0[i]) / (1 + 2 * lr_b * lam_b)
                bi[j] = (bi[j] + lr_b * g_bj + 2 * lr_b * lam_b * b0[j]) / (1 + 2 * lr_b * lam_b)


@njit(cache=True, inline="always")
def _clip(g, clip):  # pragma: no cover - jit
    norm = 0.0
    for f in range(len(g)):
        norm += g[f] * g[f]
    norm = np.sqrt(norm)
    if norm > clip:
        for f in range(len(g)):
            g[f] *= clip / norm


@njit(cache=True, inline="always")
def _prox_row(row, grad, anchor, lr, lam):  # pragma: no cover - jit
    """row <- (row + lr grad + 2 lr lam anchor) / (1 + 2 lr lam), in float64."""
    den = 1.0 + 2.0 * lr * lam
    for f in range(len(row)):
        row[f] = (row[f] + lr * grad[f] + 2.0 * lr * lam * anchor[f]) / den

"""Numba kernels of the matrix-factorisation rating models (`SVD`, `SVDpp`, `NMF`).

Notation follows the papers: ``P`` user factors p_u, ``Q`` item factors q_i, ``Y`` the implicit
factors y_j of SVD++, ``bu``/``bi`` biases, ``mu`` the global mean. Factor rows are contiguous
float32 so the inner loops over factors vectorise (``fastmath`` lets LLVM reorder the sums).

Randomness inside kernels comes from the counter-based splitmix64 streams of
`rectune.models._shared`, keyed by (seed, epoch, block), never from thread-local numba state, so
results do not depend on which thread runs what.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rectune.models._shared import GOLDEN, mix, stream_key


@njit(cache=True)
def _shuffle3(a, b, c, lo, hi, state):  # pragma: no cover - jit
    """Fisher-Yates shuffle of rows lo..hi-1 of three parallel arrays, in place."""
    for k in range(hi - 1, lo, -1):
        state = state + GOLDEN
        # Lemire's multiply-shift maps 32 random bits to [0, n) without a slow 64-bit modulo.
        j = lo + np.int64(((mix(state) >> np.uint64(32)) * np.uint64(k - lo + 1)) >> np.uint64(32))
        a[k], a[j] = a[j], a[k]
        b[k], b[j] = b[j], b[k]
        c[k], c[j] = c[j], c[k]


@njit(cache=True)
def _shuffle1(a, state):  # pragma: no cover - jit
    for k in range(len(a) - 1, 0, -1):
        state = state + GOLDEN
        j = np.int64(((mix(state) >> np.uint64(32)) * np.uint64(k + 1)) >> np.uint64(32))
        a[k], a[j] = a[j], a[k]


# ---------------------------------------------------------------------------------------- SVD
@njit(cache=True, fastmath=True, inline="always")
def _sgd_range(users, items, values, lo, hi, mu, bu, bi, P, Q, lr, reg, biased):  # pragma: no cover
    """Biased-MF SGD over rows lo..hi-1 (Koren, Bell and Volinsky 2009, eq. 5-6).

    ``lr``/``reg`` hold the step sizes and penalties of (b_u, b_i, p_u, q_i).
    """
    k = P.shape[1]
    lr_bu, lr_bi, lr_pu, lr_qi = lr[0], lr[1], lr[2], lr[3]
    reg_bu, reg_bi, reg_pu, reg_qi = reg[0], reg[1], reg[2], reg[3]
    for r in range(lo, hi):
        u = users[r]
        i = items[r]
        pu = P[u]
        qi = Q[i]
        dot = np.float32(0.0)
        for f in range(k):
            dot += pu[f] * qi[f]
        err = values[r] - (mu + bu[u] + bi[i] + dot)
        if biased:
            bu[u] += lr_bu * (err - reg_bu * bu[u])
            bi[i] += lr_bi * (err - reg_bi * bi[i])
        a_p = lr_pu * err
        d_p = np.float32(1.0) - lr_pu * reg_pu
        a_q = lr_qi * err
        d_q = np.float32(1.0) - lr_qi * reg_qi
        for f in range(k):
            puf = pu[f]
            qif = qi[f]
            pu[f] = d_p * puf + a_p * qif
            qi[f] = d_q * qif + a_q * puf


@njit(cache=True, fastmath=True)
def _svd_block(
    users, items, values, offsets, blk, ep, seed, shuffle, mu, bu, bi, P, Q, lr, reg, biased
):  # pragma: no cover - jit
    lo = offsets[blk]
    hi = offsets[blk + 1]
    if shuffle:
        _shuffle3(users, items, values, lo, hi, stream_key(seed, ep, blk))
    _sgd_range(users, items, values, lo, hi, mu, bu, bi, P, Q, lr, reg, biased)


@njit(cache=True, fastmath=True)
def svd_sgd(
    users,
    items,
    values,
    offsets,
    n_blocks,
    mu,
    bu,
    bi,
    P,
    Q,
    lr,
    reg,
    biased,
    first_epoch,
    epochs,
    decay,
    seed,
    shuffle,
):  # pragma: no cover - jit
    """Stratified SGD (DSGD, Gemulla et al. 2011) for biased MF, one thread.

    The rows are pre-sorted into ``n_blocks`` x ``n_blocks`` blocks (user block major) with
    ``offsets`` of length ``n_blocks**2 + 1``. A sub-epoch visits the ``n_blocks`` blocks of one
    diagonal stratum; they share no user and no item, so `svd_sgd_parallel` can run them on
    separate threads and computes the same model. Each block is reshuffled in place every epoch
    (when ``shuffle``); the step sizes shrink by ``decay`` per epoch. It runs epochs
    ``first_epoch .. epochs - 1``, so calling it once per epoch gives the same model.
    """
    B = n_blocks
    lr_ep = lr.copy()
    for ep in range(first_epoch, epochs):
        for g in range(4):
            lr_ep[g] = lr[g] * np.float32(decay**ep)
        for s in range(B):
            for b in range(B):
                blk = b * B + (b + s) % B
                _svd_block(
                    users,
                    items,
                    values,
                    offsets,
                    blk,
                    ep,
                    seed,
                    shuffle,
                    mu,
                    bu,
                    bi,
                    P,
                    Q,
                    lr_ep,
                    reg,
                    biased,
                )


@njit(cache=True, fastmath=True, parallel=True)
def svd_sgd_parallel(
    users,
    items,
    values,
    offsets,
    n_blocks,
    mu,
    bu,
    bi,
    P,
    Q,
    lr,
    reg,
    biased,
    first_epoch,
    epochs,
    decay,
    seed,
    shuffle,
):  # pragma: no cover - jit
    """`svd_sgd` with the blocks of each stratum on parallel threads (same result)."""
    B = n_blocks
    lr_ep = lr.copy()
    for ep in range(first_epoch, epochs):
        for g in range(4):
            lr_ep[g] = lr[g] * np.float32(decay**ep)
        for s in range(B):
            for b in prange(B):
                blk = b * B + (b + s) % B
                _svd_block(
                    users,
                    items,
                    values,
                    offsets,
                    blk,
                    ep,
                    seed,
                    shuffle,
                    mu,
                    bu,
                    bi,
                    P,
                    Q,
                    lr_ep,
                    reg,
                    biased,
                )


@njit(cache=True)
def block_order(users, items, user_block, item_block, n_blocks):  # pragma: no cover - jit
    """Counting sort of rows by (user block, item block): (order, offsets)."""
    n = len(users)
    nb = n_blocks * n_blocks
    counts = np.zeros(nb + 1, dtype=np.int64)
    for r in range(n):
        counts[user_block[users[r]] * n_blocks + item_block[items[r]] + 1] += 1
    for b in range(nb):
        counts[b + 1] += counts[b]
    offsets = counts.copy()
    order = np.empty(n, dtype=np.int64)
    for r in range(n):
        blk = user_block[users[r]] * n_blocks + item_block[items[r]]
        order[counts[blk]] = r
        counts[blk] += 1
    return order, offsets


# -------------------------------------------------------------------------------------- SVD++
@njit(cache=True, fastmath=True)
def svdpp_sgd(
    indptr,
    items,
    values,
    n_indptr,
    n_items_of,
    mu,
    bu,
    bi,
    P,
    Q,
    Y,
    lr,
    reg,
    biased,
    first_epoch,
    epochs,
    decay,
    seed,
    order,
):  # pragma: no cover - jit
    """SVD++ by SGD (Koren 2008, "Factorization meets the neighborhood", eq. 15), user by user.

    ``indptr``/``items``/``values`` hold the ratings grouped by user; ``n_indptr``/``n_items_of``
    the implicit set N(u). Per user the implicit sum z = |N(u)|^-1/2 sum_j y_j is computed once
    and then kept current in O(k) per rating; the y_j updates are accumulated and applied once
    per user. Because every y_j of the user receives the same per-rating step
    y_j <- d y_j + lr err q_i |N(u)|^-1/2 (d = 1 - lr_y reg_y), the deferred update
    y_j <- d^n y_j + lr G with G <- d G + err q_i |N(u)|^-1/2 equals the per-rating update of
    the paper (and of Surprise) exactly, at O(|N(u)| k) instead of O(|R(u)| |N(u)| k) per user.
    The user order (``order``, a permutation of the users kept by the caller) is reshuffled in
    place every epoch. It runs epochs ``first_epoch .. epochs - 1``, so calling it once per
    epoch with the same ``order`` gives the same model. ``lr``/``reg`` order: b_u, b_i, p_u,
    q_i, y_j. Returns the last epoch's sum of squared errors, each taken just before its step.
    """
    k = P.shape[1]
    z = np.zeros(k, dtype=np.float32)
    G = np.zeros(k, dtype=np.float32)
    sse = 0.0
    for ep in range(first_epoch, epochs):
        sse = 0.0
        scale = np.float32(decay**ep)
        lr_bu, lr_bi = lr[0] * scale, lr[1] * scale
        lr_pu, lr_qi, lr_y = lr[2] * scale, lr[3] * scale, lr[4] * scale
        reg_bu, reg_bi, reg_pu, reg_qi, reg_y = reg[0], reg[1], reg[2], reg[3], reg[4]
        d_p = np.float32(1.0) - lr_pu * reg_pu
        d_q = np.float32(1.0) - lr_qi * reg_qi
        d_y = np.float32(1.0) - lr_y * reg_y
        _shuffle1(order, stream_key(seed, ep, 0))
        for u in order:
            lo, hi = indptr[u], indptr[u + 1]
            nlo, nhi = n_indptr[u], n_indptr[u + 1]
            if hi == lo or nhi == nlo:
                continue
            inv_sqrt = np.float32(1.0 / np.sqrt(nhi - nlo))
            for f in range(k):
                z[f] = 0.0
            for jj in range(nlo, nhi):
                yj = Y[n_items_of[jj]]
                for f in range(k):
                    z[f] += yj[f]
            for f in range(k):
                z[f] *= inv_sqrt
                G[f] = 0.0
            pu = P[u]
            for r in range(lo, hi):
                i = items[r]
                qi = Q[i]
                dot = np.float32(0.0)
                for f in range(k):
                    dot += qi[f] * (pu[f] + z[f])
                err = values[r] - (mu + bu[u] + bi[i] + dot)
                sse += err * err
                if biased:
                    bu[u] += lr_bu * (err - reg_bu * bu[u])
                    bi[i] += lr_bi * (err - reg_bi * bi[i])
                a_p = lr_pu * err
                a_q = lr_qi * err
                a_y = lr_y * err
                e_s = err * inv_sqrt
                for f in range(k):
                    puf = pu[f]
                    qif = qi[f]
                    pu[f] = d_p * puf + a_p * qif
                    qi[f] = d_q * qif + a_q * (puf + z[f])
                    G[f] = d_y * G[f] + e_s * qif
                    z[f] = d_y * z[f] + a_y * qif
            d_n = d_y ** np.float32(hi - lo)
            for jj in range(nlo, nhi):
                yj = Y[n_items_of[jj]]
                for f in range(k):
                    yj[f] = d_n * yj[f] + lr_y * G[f]
    return sse


# ---------------------------------------------------------------------------------------- NMF
@njit(cache=True, fastmath=True)
def nmf_fit(
    indptr, row_users, items, values, i_indptr, i_rows, mu, bu, bi, P, Q, lr, reg, biased, epochs
):  # pragma: no cover - jit
    """Surprise's NMF: multiplicative updates of Luo et al. (2014), optional SGD biases.

    ``indptr``/``row_users``/``items``/``values`` hold the ratings grouped by user (Surprise's
    visiting order); ``i_indptr``/``i_rows`` list each item's positions in them. Per epoch,
    with est_ui the current estimate (taken before that rating's bias step, as Surprise does):
    p_uf *= sum_i q_if r_ui / (sum_i q_if est_ui + |I_u| reg_pu p_uf), and likewise q_if with
    the p_u of the start of the epoch. ``reg`` order: b_u, b_i, p_u, q_i; ``lr``: b_u, b_i.
    Returns the last epoch's sum of squared errors ``(r_ui - est_ui)^2``: the error of the
    estimates its update started from (no randomness: one call per epoch is the same model).
    """
    k = P.shape[1]
    n_users = len(indptr) - 1
    n_items = len(i_indptr) - 1
    est = np.empty(len(items), dtype=P.dtype)
    P_new = np.empty_like(P)
    num = np.empty(k, dtype=P.dtype)
    den = np.empty(k, dtype=P.dtype)
    sse = 0.0
    for _ in range(epochs):
        sse = 0.0
        # Estimates (and bias steps) in user order.
        for u in range(n_users):
            pu = P[u]
            for r in range(indptr[u], indptr[u + 1]):
                i = items[r]
                qi = Q[i]
                dot = 0.0
                for f in range(k):
                    dot += pu[f] * qi[f]
                e = mu + bu[u] + bi[i] + dot
                est[r] = e
                err = values[r] - e
                sse += err * err
                if biased:
                    bu[u] += lr[0] * (err - reg[0] * bu[u])
                    bi[i] += lr[1] * (err - reg[1] * bi[i])
        # User factors from the old item factors, into P_new.
        for u in range(n_users):
            for f in range(k):
                num[f] = 0.0
                den[f] = 0.0
            for r in range(indptr[u], indptr[u + 1]):
                qi = Q[items[r]]
                v = values[r]
                e = est[r]
                for f in range(k):
                    num[f] += qi[f] * v
                    den[f] += qi[f] * e
            _rescale_row(P[u], P_new[u], num, den, (indptr[u + 1] - indptr[u]) * reg[2])
        # Item factors from the old user factors, in place.
        for i in range(n_items):
            for f in range(k):
                num[f] = 0.0
                den[f] = 0.0
            for t in range(i_indptr[i], i_indptr[i + 1]):
                r = i_rows[t]
                pu = P[row_users[r]]
                v = values[r]
                e = est[r]
                for f in range(k):
                    num[f] += pu[f] * v
                    den[f] += pu[f] * e
            qi = Q[i]
            _rescale_row(qi, qi, num, den, (i_indptr[i + 1] - i_indptr[i]) * reg[3])
        for u in range(n_users):
            for f in range(k):
                P[u, f] = P_new[u, f]
    return sse


@njit(cache=True, fastmath=True)
def _rescale_row(cur, out, num, den, n_reg):  # pragma: no cover - jit
    """out = cur * num / (den + n reg cur) wherever cur is non-zero (zeros stay, as Surprise)."""
    for f in range(len(cur)):
        c = cur[f]
        if c != 0.0:
            out[f] = c * num[f] / (den[f] + n_reg * c)
        else:
            out[f] = c

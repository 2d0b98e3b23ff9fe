"""Numba kernels of the implicit-feedback models (`ALS`, `BPR`, `EASE`).

Notation follows the papers. ALS (Hu, Koren and Volinsky 2008): ``X`` the rows being solved
(user or item factors), ``Y`` the other side, ``YtY`` its Gram matrix, confidence
``c_ui = 1 + alpha |r_ui|`` and preference ``p_ui = [r_ui > 0]``; each row solves
``(YtY + reg I + Yt (C_u - I) Y) x_u = Yt C_u p_u``. BPR (Rendle et al. 2009): ``P`` user
factors, ``Q`` item factors, ``bi`` item biases, a step per (user, positive, negative) triple.

Factor arrays are float32; the exact (Cholesky) solves accumulate in float32 and factorise in
float64 so that a huge L2-SP lambda keeps the anchor exactly. Randomness inside kernels comes
from the counter-based splitmix64 streams of `rectune.models._mf_kernels`, never from
thread-local state, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rectune.models._mf_kernels import _GOLDEN, _mix, _stream_key


# ---------------------------------------------------------------------------------------- ALS
@njit(cache=True, fastmath=True, inline="always")
def _symv(A, x, out, sign):  # pragma: no cover - jit
    """out = sign * A @ x for a dense square float32 ``A``."""
    k = A.shape[0]
    for a in range(k):
        acc = np.float32(0.0)
        row = A[a]
        for b in range(k):
            acc += row[b] * x[b]
        out[a] = sign * acc


@njit(cache=True, fastmath=True, parallel=True)
def als_cg(indptr, indices, data, X, Y, YtY, alpha, cg_steps):  # pragma: no cover - jit
    """One ALS half-sweep by conjugate gradient (Takács, Pilászy and Tikk 2011).

    ``YtY`` already holds ``reg I``. Each row starts from its current value and takes
    ``cg_steps`` CG steps on ``(YtY + Yt (C_u - I) Y) x = Yt C_u p_u`` without forming the
    matrix, as implicit's ``least_squares_cg``. Rows without interactions are set to zero.
    """
    n, k = X.shape
    for u in prange(n):
        lo = indptr[u]
        hi = indptr[u + 1]
        x = X[u]
        if lo == hi:
            x[:] = 0.0
            continue
        r = np.empty(k, dtype=np.float32)
        p = np.empty(k, dtype=np.float32)
        Ap = np.empty(k, dtype=np.float32)
        _symv(YtY, x, r, np.float32(-1.0))
        for idx in range(lo, hi):
            y = Y[indices[idx]]
            v = data[idx]
            c1 = alpha * abs(v)  # c - 1
            d = np.float32(0.0)
            for f in range(k):
                d += y[f] * x[f]
            coef = -c1 * d
            if v > 0:
                coef += np.float32(1.0) + c1
            for f in range(k):
                r[f] += coef * y[f]
        rsold = np.float32(0.0)
        for f in range(k):
            p[f] = r[f]
            rsold += r[f] * r[f]
        if rsold < 1e-20:
            continue
        for _ in range(cg_steps):
            _symv(YtY, p, Ap, np.float32(1.0))
            for idx in range(lo, hi):
                y = Y[indices[idx]]
                c1 = alpha * abs(data[idx])
                d = np.float32(0.0)
                for f in range(k):
                    d += y[f] * p[f]
                d *= c1
                for f in range(k):
                    Ap[f] += d * y[f]
            pAp = np.float32(0.0)
            for f in range(k):
                pAp += p[f] * Ap[f]
            step = rsold / pAp
            rsnew = np.float32(0.0)
            for f in range(k):
                x[f] += step * p[f]
                r[f] -= step * Ap[f]
                rsnew += r[f] * r[f]
            if rsnew < 1e-20:
                break
            beta = rsnew / rsold
            for f in range(k):
                p[f] = r[f] + beta * p[f]
            rsold = rsnew


@njit(cache=True, fastmath=True, inline="always")
def _cholesky_solve(A, b):  # pragma: no cover - jit
    """Solve ``A x = b`` in place (b becomes x) for symmetric positive definite float64 A.

    Only the lower triangle of ``A`` is read; it is overwritten by the factor L (A = L L^T),
    row by row so that every inner loop runs over contiguous memory.
    """
    k = A.shape[0]
    for j in range(k):
        Lj = A[j]
        s = Lj[j]
        for m in range(j):
            s -= Lj[m] * Lj[m]
        d = np.sqrt(max(s, 1e-300))
        Lj[j] = d
        inv = 1.0 / d
        for c in range(j + 1, k):
            Lc = A[c]
            s = Lc[j]
            for m in range(j):
                s -= Lc[m] * Lj[m]
            Lc[j] = s * inv
    for j in range(k):  # forward: L z = b
        Lj = A[j]
        s = b[j]
        for m in range(j):
            s -= Lj[m] * b[m]
        b[j] = s / Lj[j]
    for j in range(k - 1, -1, -1):  # back: L^T x = z
        s = b[j]
        for m in range(j + 1, k):
            s -= A[m, j] * b[m]
        b[j] = s / A[j, j]


@njit(cache=True, fastmath=True, parallel=True)
def als_solve_rows(
    indptr, indices, data, X, Y, YtY, reg, alpha, lam, X0, rows
):  # pragma: no cover - jit
    """Exact least-squares solve of the listed rows of ``X`` given ``Y`` (fold-in, fine-tune).

    ``(YtY + (reg + lam) I + Yt (C_u - I) Y) x = Yt C_u p_u + lam x0``: ridge toward the anchor
    ``X0`` (L2-SP; ``lam`` 0 is implicit's ``recalculate_user``). ``YtY`` is float64 without
    the regulariser. The rank-one updates run over full rows (fixed trip count: vectorised).
    """
    k = X.shape[1]
    for t in prange(len(rows)):
        u = rows[t]
        acc = np.zeros((k, k), dtype=np.float32)
        bf = np.zeros(k, dtype=np.float32)
        for idx in range(indptr[u], indptr[u + 1]):
            y = Y[indices[idx]]
            v = data[idx]
            c1 = alpha * abs(v)
            if v > 0:
                cf = np.float32(1.0) + c1
                for f in range(k):
                    bf[f] += cf * y[f]
            for a in range(k):
                w = c1 * y[a]
                for b in range(k):  # full rows: a fixed trip count vectorises best
                    acc[a, b] += w * y[b]
        A = np.empty((k, k), dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        for a in range(k):
            for c in range(a + 1):
                A[a, c] = YtY[a, c] + acc[a, c]
            A[a, a] += reg + lam
            b[a] = bf[a] + lam * X0[u, a]
        _cholesky_solve(A, b)
        for f in range(k):
            X[u, f] = b[f]


@njit(cache=True, fastmath=True, parallel=True)
def als_observed_loss(indptr, indices, data, X, Y, alpha):  # pragma: no cover - jit
    """Observed-entry part of the Hu et al. loss: sum c (p - s)^2 - s^2 over the stored pairs.

    Adding ``trace(XtX YtY)`` (every pair with c = 1, p = 0) and the penalties gives the loss.
    """
    n, k = X.shape
    total = np.zeros(n, dtype=np.float64)
    for u in prange(n):
        s_u = 0.0
        for idx in range(indptr[u], indptr[u + 1]):
            y = Y[indices[idx]]
            s = 0.0
            for f in range(k):
                s += X[u, f] * y[f]
            v = data[idx]
            c = 1.0 + alpha * abs(v)
            pref = 1.0 if v > 0 else 0.0
            s_u += c * (pref - s) ** 2 - s * s
        total[u] = s_u
    return total.sum()


# ---------------------------------------------------------------------------------------- BPR
@njit(cache=True, inline="always")
def _next(state):  # pragma: no cover - jit
    state = state + _GOLDEN
    return state, _mix(state)


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
    """One BPR-Opt SGD step on (u, i, j) (Rendle et al. 2009, eq. 7 with item biases)."""
    k = P.shape[1]
    pu = P[u]
    qi = Q[i]
    qj = Q[j]
    x = bi[i] - bi[j]
    for f in range(k):
        x += pu[f] * (qi[f] - qj[f])
    z = np.float32(1.0) / (np.float32(1.0) + np.exp(x))
    for f in range(k):
        puf = pu[f]
        qif = qi[f]
        qjf = qj[f]
        pu[f] += lr * (z * (qif - qjf) - reg * puf)
        qi[f] += lr * (z * puf - reg * qif)
        qj[f] += lr * (-z * puf - reg * qjf)
    bi[i] += lr * (z - reg * bi[i])
    bi[j] += lr * (-z - reg * bi[j])
    return z < 0.5


@njit(cache=True, fastmath=True)
def _bpr_block(
    users, items, lo, hi, pool, sp_ptr, sp_idx, P, Q, bi, lr, reg, state
):  # pragma: no cover - jit
    """Rows lo..hi-1 (one user block) in a fresh shuffle, negatives drawn from ``pool``."""
    correct = 0
    n_pool = np.uint64(len(pool))
    for k in range(hi - 1, lo, -1):  # Fisher-Yates shuffle of the block's rows
        state, z = _next(state)
        m = lo + np.int64(z % np.uint64(k - lo + 1))
        users[k], users[m] = users[m], users[k]
        items[k], items[m] = items[m], items[k]
    for r in range(lo, hi):
        u = users[r]
        i = items[r]
        j = -1
        for _ in range(8):  # redraw negatives the user has liked (implicit: skip instead)
            state, z = _next(state)
            cand = pool[np.int64(z % n_pool)]
            if not _liked(sp_ptr, sp_idx, u, cand):
                j = cand
                break
        if j < 0:
            continue
        if _bpr_step(u, i, j, P, Q, bi, lr, reg):
            correct += 1
    return correct


@njit(cache=True, fastmath=True)
def bpr_epochs(
    users, items, offsets, pool, sp_ptr, sp_idx, P, Q, bi, lr, reg, epochs, seed
):  # pragma: no cover - jit
    """BPR SGD epochs on one thread, bit-reproducible for a seed.

    Rows are grouped by user block (``offsets``); every epoch each block is reshuffled with
    its own random stream (keyed by seed, epoch and block) and each positive gets one negative
    from ``pool`` (every item once: uniform; every interaction's item: popularity). Returns the
    share of the last epoch's triples that were already ranked correctly.
    """
    correct = 0
    for ep in range(epochs):
        correct = 0
        for b in range(len(offsets) - 1):
            state = _stream_key(seed, ep, b)
            correct += _bpr_block(
                users,
                items,
                offsets[b],
                offsets[b + 1],
                pool,
                sp_ptr,
                sp_idx,
                P,
                Q,
                bi,
                lr,
                reg,
                state,
            )
    return correct / max(len(users), 1)


@njit(cache=True, fastmath=True, parallel=True)
def bpr_epochs_parallel(
    users, items, offsets, pool, sp_ptr, sp_idx, P, Q, bi, lr, reg, epochs, seed
):  # pragma: no cover - jit
    """`bpr_epochs` with the user blocks on parallel threads, one barrier per epoch.

    User rows are owned by one thread; item rows are updated lock-free (Hogwild, Recht et al.
    2011), as in implicit, so results may differ in the last bits between runs.
    """
    n_blocks = len(offsets) - 1
    correct = np.zeros(n_blocks, dtype=np.int64)
    for ep in range(epochs):
        for b in prange(n_blocks):
            state = _stream_key(seed, ep, b)
            correct[b] = _bpr_block(
                users,
                items,
                offsets[b],
                offsets[b + 1],
                pool,
                sp_ptr,
                sp_idx,
                P,
                Q,
                bi,
                lr,
                reg,
                state,
            )
    return correct.sum() / max(len(users), 1)


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
    state = _stream_key(seed, 0, 0)
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
                state, z = _next(state)
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


# ---------------------------------------------------------------------------------------- EASE
@njit(cache=True, fastmath=True, parallel=True)
def ease_pairs(indptr, indices, data, B, users, items):  # pragma: no cover - jit
    """Scores ``x_u . B[:, i]`` of (user, item) pairs from the users' stored rows."""
    out = np.empty(len(users), dtype=np.float64)
    for t in prange(len(users)):
        u = users[t]
        i = items[t]
        s = 0.0
        for idx in range(indptr[u], indptr[u + 1]):
            s += data[idx] * B[indices[idx], i]
        out[t] = s
    return out

"""Numba kernels of `ALS` and `EASE`.

ALS (Hu, Koren and Volinsky 2008): ``X`` the rows being solved (user or item factors), ``Y`` the
other side, ``YtY`` its Gram matrix, confidence ``c_ui = 1 + alpha |r_ui|`` and preference
``p_ui = [r_ui > 0]``; each row solves ``(YtY + reg I + Yt (C_u - I) Y) x_u = Yt C_u p_u``.
Factor arrays are float32; the exact (Cholesky) solves accumulate in float32 and factorise in
float64 so that a huge L2-SP lambda keeps the anchor exactly. Rows are independent, so results
do not depend on the thread count. EASE (Steck 2019): scores of (user, item) pairs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


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


@njit(cache=True, fastmath=True, inline="always")
def _dot(a, b):  # pragma: no cover - jit
    """a . b of two float32 vectors, accumulated in float64."""
    acc = 0.0
    for f in range(len(a)):
        acc += a[f] * b[f]
    return acc


@njit(cache=True, fastmath=True, parallel=True)
def als_cg(indptr, indices, data, X, Y, YtY, alpha, cg_steps):  # pragma: no cover - jit
    """One ALS half-sweep by conjugate gradient (Takács, Pilászy and Tikk 2011).

    ``YtY`` already holds ``reg I``. Each row starts from its current value and takes
    ``cg_steps`` CG steps on ``(YtY + Yt (C_u - I) Y) x = Yt C_u p_u`` without forming the
    matrix, as implicit's ``least_squares_cg``. Rows without interactions are set to zero.

    Returns ``sum_u L_u(x_u)`` at the new rows, ``L_u(x) = sum_i c_ui (p_ui - x . y_i)^2 +
    reg |x|^2`` (Hu et al.'s loss split by row, without the other side's penalty), from what
    the solve has anyway: with ``A x = b`` the row's system and ``r = b - A x``, the start
    value is ``L(x0) = sum c p^2 - b . x0 - r0 . x0`` (``b . x0 = sum c p (y_i . x0)``, dots
    the residual needs) and each step ``x += s p`` changes it by ``s^2 p.Ap - 2 s p.r``.
    """
    n, k = X.shape
    losses = np.zeros(n)
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
        bx = np.float32(0.0)  # b . x0
        cp = np.float32(0.0)  # sum c p^2
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
            w = coef + c1 * d  # c p: 1 + c1 for a positive, 0 otherwise
            bx += w * d
            cp += w
            for f in range(k):
                r[f] += coef * y[f]
        rsold = np.float32(0.0)
        for f in range(k):
            p[f] = r[f]
            rsold += r[f] * r[f]
        loss = cp - bx - _dot(r, x)
        if rsold < 1e-20:
            losses[u] = loss
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
            loss += step * step * pAp - 2.0 * step * _dot(p, r)
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
        losses[u] = loss
    return losses.sum()


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


# --------------------------------------------------------------------------------------- EASE
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

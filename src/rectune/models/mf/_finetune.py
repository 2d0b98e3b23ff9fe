"""Numba kernels for fine-tuning and incremental updates of factor models.

Per-event learning (the prequential loop) is in `rectune.models.mf._online_kernels`.

Used by `SVD`, `SVDpp` and `NMF` (`rectune.models.svd.FactorModel`). Notation as in
`rectune.models._mf_kernels`: ``P``/``Q`` user/item factors, ``Y`` SVD++ implicit factors,
``Z`` per-user implicit offsets ``|N(u)|^-1/2 sum_j y_j``, ``bu``/``bi`` biases, ``mu`` the
global mean; a ``0`` suffix marks the L2-SP anchors (the parent's values).

Conventions shared by every kernel here:

- ``lr``/``reg``/``lam`` hold the step size, penalty and L2-SP lambda per group in the order
  (b_u, b_i, p_u, q_i[, y_j]). A step size of 0 freezes a group: it is never written, so it
  stays bit-identical.
- L2-SP ``lam ||theta - theta0||^2`` (Li, Grandvalet and Davoine 2018, "Explicit inductive bias
  for transfer learning with convolutional networks") is applied as a proximal step after the
  gradient step, ``theta <- (theta' + 2 lr lam theta0) / (1 + 2 lr lam)``: stable for any
  lambda, and a huge lambda keeps the parent exactly; lambda 0 is plain SGD bit for bit.
- ``clip`` > 0 bounds the L2 norm of each row's gradient (a bias is a row of length one).
- ``upd_u``/``upd_i`` (uint8 per row) say which rows may change (incremental updates leave
  freshly folded-in rows alone).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _prox(x, x0, lr, lam):  # pragma: no cover - jit
    if lam > 0.0:
        return (x + 2.0 * lr * lam * x0) / (1.0 + 2.0 * lr * lam)
    return x


@njit(cache=True, inline="always")
def _clip_scale(sq, clip):  # pragma: no cover - jit
    if clip > 0.0 and sq > clip * clip:
        return clip / np.sqrt(sq)
    return 1.0


@njit(cache=True, inline="always")
def _bias_step(b, b0, err, lr, reg, lam, clip):  # pragma: no cover - jit
    g = err - reg * b
    if clip > 0.0:
        g = max(-clip, min(clip, g))
    return _prox(b + lr * g, b0, lr, lam)


@njit(cache=True, fastmath=True)
def sgd_epoch(
    users,
    items,
    values,
    order,
    mu,
    bu,
    bi,
    P,
    Q,
    Z,
    bu0,
    bi0,
    P0,
    Q0,
    lr,
    reg,
    lam,
    clip,
    biased,
    upd_u,
    upd_i,
):  # pragma: no cover - jit
    """One SGD pass over the rows in ``order`` (Koren, Bell and Volinsky 2009, eq. 5-6).

    ``Z`` (n_users x k, or 0 rows for none) is added to p_u in the estimate and in the q_i
    gradient (SVD++ with fixed implicit factors). L2-SP, clipping and freezing as the module
    says.
    """
    k = P.shape[1]
    has_z = Z.shape[0] > 0
    for r in order:
        u = users[r]
        i = items[r]
        pu = P[u]
        qi = Q[i]
        dot = 0.0
        for f in range(k):
            v = pu[f] + Z[u, f] if has_z else pu[f]
            dot += v * qi[f]
        err = values[r] - (mu + bu[u] + bi[i] + dot) if biased else values[r] - dot
        if biased:
            if lr[0] > 0.0 and upd_u[u]:
                bu[u] = _bias_step(bu[u], bu0[u], err, lr[0], reg[0], lam[0], clip)
            if lr[1] > 0.0 and upd_i[i]:
                bi[i] = _bias_step(bi[i], bi0[i], err, lr[1], reg[1], lam[1], clip)
        do_p = lr[2] > 0.0 and upd_u[u]
        do_q = lr[3] > 0.0 and upd_i[i]
        if not (do_p or do_q):
            continue
        sp = 0.0
        sq = 0.0
        for f in range(k):
            v = pu[f] + Z[u, f] if has_z else pu[f]
            gp = err * qi[f] - reg[2] * pu[f]
            gq = err * v - reg[3] * qi[f]
            sp += gp * gp
            sq += gq * gq
        cp = lr[2] * _clip_scale(sp, clip)
        cq = lr[3] * _clip_scale(sq, clip)
        for f in range(k):
            puf = pu[f]
            qif = qi[f]
            v = puf + Z[u, f] if has_z else puf
            if do_p:
                pu[f] = _prox(puf + cp * (err * qif - reg[2] * puf), P0[u, f], lr[2], lam[2])
            if do_q:
                qi[f] = _prox(qif + cq * (err * v - reg[3] * qif), Q0[i, f], lr[3], lam[3])


@njit(cache=True, fastmath=True)
def svdpp_epoch(
    gptr,
    gusers,
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
    bu0,
    bi0,
    P0,
    Q0,
    Y0,
    lr,
    reg,
    lam,
    clip,
    biased,
    upd_u,
    upd_i,
):  # pragma: no cover - jit
    """One SVD++ SGD pass (Koren 2008, eq. 15) over rows grouped by user.

    Group ``g`` is user ``gusers[g]`` with rows ``gptr[g]:gptr[g+1]`` of ``items``/``values``;
    N(u) is ``n_items_of[n_indptr[u]:n_indptr[u+1]]``. Within a user z = |N(u)|^-1/2 sum y_j is
    held fixed and the y_j gradient ``sum_r err_r q_i |N(u)|^-1/2 - n_r reg y_j`` is applied once
    per user (a per-user mini-batch step), with L2-SP, clipping and freezing as for the others.
    """
    k = P.shape[1]
    z = np.zeros(k)
    G = np.zeros(k)
    for g in range(len(gusers)):
        u = gusers[g]
        nlo, nhi = n_indptr[u], n_indptr[u + 1]
        inv = 1.0 / np.sqrt(nhi - nlo) if nhi > nlo else 0.0
        for f in range(k):
            z[f] = 0.0
            G[f] = 0.0
        for jj in range(nlo, nhi):
            for f in range(k):
                z[f] += Y[n_items_of[jj], f]
        for f in range(k):
            z[f] *= inv
        pu = P[u]
        n_r = gptr[g + 1] - gptr[g]
        for r in range(gptr[g], gptr[g + 1]):
            i = items[r]
            qi = Q[i]
            dot = 0.0
            for f in range(k):
                dot += (pu[f] + z[f]) * qi[f]
            err = values[r] - (mu + bu[u] + bi[i] + dot) if biased else values[r] - dot
            if biased:
                if lr[0] > 0.0 and upd_u[u]:
                    bu[u] = _bias_step(bu[u], bu0[u], err, lr[0], reg[0], lam[0], clip)
                if lr[1] > 0.0 and upd_i[i]:
                    bi[i] = _bias_step(bi[i], bi0[i], err, lr[1], reg[1], lam[1], clip)
            sp = 0.0
            sq = 0.0
            for f in range(k):
                gp = err * qi[f] - reg[2] * pu[f]
                gq = err * (pu[f] + z[f]) - reg[3] * qi[f]
                sp += gp * gp
                sq += gq * gq
                G[f] += err * qi[f] * inv
            cp = lr[2] * _clip_scale(sp, clip)
            cq = lr[3] * _clip_scale(sq, clip)
            do_p = lr[2] > 0.0 and upd_u[u]
            do_q = lr[3] > 0.0 and upd_i[i]
            for f in range(k):
                puf = pu[f]
                qif = qi[f]
                if do_p:
                    pu[f] = _prox(puf + cp * (err * qif - reg[2] * puf), P0[u, f], lr[2], lam[2])
                if do_q:
                    qi[f] = _prox(
                        qif + cq * (err * (puf + z[f]) - reg[3] * qif), Q0[i, f], lr[3], lam[3]
                    )
        if lr[4] <= 0.0:
            continue
        for jj in range(nlo, nhi):
            j = n_items_of[jj]
            if not upd_i[j]:
                continue
            yj = Y[j]
            s = 0.0
            for f in range(k):
                gy = G[f] - n_r * reg[4] * yj[f]
                s += gy * gy
            c = lr[4] * _clip_scale(s, clip)
            for f in range(k):
                yj[f] = _prox(yj[f] + c * (G[f] - n_r * reg[4] * yj[f]), Y0[j, f], lr[4], lam[4])


@njit(cache=True, fastmath=True)
def nmf_rows(
    indptr, cols, vals, mu, own_b, other_b, own, other, own0, reg, lam, step, rows
):  # pragma: no cover - jit
    """Multiplicative update (Luo et al. 2014) of the listed rows of ``own`` in place.

    ``p_f <- p_f (sum q_f r + 2 lam p0_f) / (sum q_f est + n reg p_f + 2 lam p_f)`` over the
    row's entries in the CSR ``indptr/cols/vals`` (the other side's rows in ``cols``):
    L2-SP split into its negative part (numerator) and positive part (denominator), so the
    factors stay non-negative and a huge lambda keeps the parent. ``mu`` is 0 when unbiased
    (then ``own_b``/``other_b`` are zeros). ``step`` in (0, 1] damps the update to
    ``(1 - step) p + step p_MU`` (a learning-rate schedule; still non-negative).
    """
    k = own.shape[1]
    num = np.empty(k)
    den = np.empty(k)
    for r in rows:
        lo, hi = indptr[r], indptr[r + 1]
        if hi == lo:
            continue
        row = own[r]
        for f in range(k):
            num[f] = 2.0 * lam * own0[r, f]
            den[f] = (hi - lo) * reg * row[f] + 2.0 * lam * row[f]
        for p in range(lo, hi):
            c = cols[p]
            oc = other[c]
            est = mu + own_b[r] + other_b[c]
            for f in range(k):
                est += row[f] * oc[f]
            for f in range(k):
                num[f] += oc[f] * vals[p]
                den[f] += oc[f] * est
        for f in range(k):
            if row[f] != 0.0 and den[f] > 0.0:
                row[f] = row[f] * ((1.0 - step) + step * num[f] / den[f])


@njit(cache=True, fastmath=True)
def _gram(x, scale, out):  # pragma: no cover - jit
    """``out = X diag(scale) X^T`` for the rows of ``x`` (symmetric: the upper half, mirrored)."""
    n, d = x.shape
    for p in range(n):
        for q in range(p, n):
            s = 0.0
            for f in range(d):
                s += x[p, f] * scale[f] * x[q, f]
            out[p, q] = s
            out[q, p] = s


@njit(cache=True, fastmath=True)
def _gram_t(x, out):  # pragma: no cover - jit
    """``out = X^T X`` (the upper half as dot products of columns, then mirrored)."""
    n, d = x.shape
    xt = np.ascontiguousarray(x.T)
    for f in range(d):
        for h in range(f, d):
            s = 0.0
            for p in range(n):
                s += xt[f, p] * xt[h, p]
            out[f, h] = s
            out[h, f] = s


@njit(cache=True)
def _spd_solve(a, b):  # pragma: no cover - jit
    """Solve ``a w = b`` for a symmetric positive definite ``a`` by Cholesky (``a`` is
    overwritten); falls back to LU (`np.linalg.solve`) if a pivot is not positive."""
    m = a.shape[0]
    keep = a.copy()
    for j in range(m):
        s = a[j, j]
        for h in range(j):
            s -= a[j, h] * a[j, h]
        if s <= 0.0:
            return np.linalg.solve(keep, b)
        a[j, j] = np.sqrt(s)
        for i in range(j + 1, m):
            s = a[i, j]
            for h in range(j):
                s -= a[i, h] * a[j, h]
            a[i, j] = s / a[j, j]
    w = b.copy()
    for i in range(m):  # L y = b
        s = w[i]
        for h in range(i):
            s -= a[i, h] * w[h]
        w[i] = s / a[i, i]
    for i in range(m - 1, -1, -1):  # L^T w = y
        s = w[i]
        for h in range(i + 1, m):
            s -= a[h, i] * w[h]
        w[i] = s / a[i, i]
    return w


@njit(cache=True)
def ridge_rows(
    indptr, cols, vals, mu, own_b, own, other_b, other, own_off, reg_b, reg_f, extra, biased, rows
):  # pragma: no cover - jit
    """Closed-form fold-in of the listed rows: ridge least squares given the other side.

    For row e with entries (c, r): design ``x = [1, other[c]]`` (no 1 when unbiased), target
    ``t = r - mu - other_b[c] - other[c] . own_off[e]`` (``own_off``: SVD++'s implicit offset of
    a user, or 0 rows for none). Solves ``(X^T X + D) w = X^T t`` with
    ``D = diag(n reg_b + extra, n reg_f + extra, ...)``, n = the row's entry count: the
    minimiser of the SGD objective ``sum_r e_r^2 + reg ||w||^2`` restricted to the row, plus
    ``extra`` shrinkage for rows with few entries (as ALS / implicit's ``partial_fit_users``).

    A row with fewer entries than unknowns (a new item rated once or twice) is solved in the
    dual, ``w = D^-1 X^T (X D^-1 X^T + I)^-1 t`` (the same minimiser, by the push-through
    identity): an n x n system instead of a d x d one. Single-threaded loops (no BLAS, whose
    threads would spin on these small systems), Cholesky solves.
    """
    k = own.shape[1]
    off = 1 if biased else 0
    d = k + off
    has_off = own_off.shape[0] > 0
    a = np.empty((d, d))
    dg = np.empty(d)
    inv = np.empty(d)
    for e in rows:
        lo, hi = indptr[e], indptr[e + 1]
        n = hi - lo
        x = np.empty((n, d))
        t = np.empty(n)
        for p in range(n):
            c = cols[lo + p]
            tp = vals[lo + p] - mu - other_b[c] if biased else vals[lo + p]
            if has_off:
                for f in range(k):
                    tp -= other[c, f] * own_off[e, f]
            t[p] = tp
            if biased:
                x[p, 0] = 1.0
            for f in range(k):
                x[p, off + f] = other[c, f]
        for f in range(d):
            dg[f] = n * (reg_b if (biased and f == 0) else reg_f) + extra
        w = np.zeros(d)
        if n == 0:
            pass
        elif n < d and dg.min() > 0.0:
            for f in range(d):
                inv[f] = 1.0 / dg[f]
            g = np.empty((n, n))
            _gram(x, inv, g)
            for p in range(n):
                g[p, p] += 1.0
            z = _spd_solve(g, t)
            for p in range(n):
                for f in range(d):
                    w[f] += inv[f] * x[p, f] * z[p]
        else:
            _gram_t(x, a)
            rhs = np.zeros(d)
            for p in range(n):
                for f in range(d):
                    rhs[f] += x[p, f] * t[p]
            for f in range(d):
                a[f, f] += dg[f]
            w = _spd_solve(a, rhs)
        if biased:
            own_b[e] = w[0]
        for f in range(k):
            own[e, f] = w[off + f]


def grouped(
    users: np.ndarray, order: np.ndarray, user_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``order`` grouped by user, users sorted by ``user_rank`` (stable within a user).

    Returns (gptr, gusers, rows): group g is user ``gusers[g]`` with rows ``rows[gptr[g]:...]``.
    """
    rows = order[np.argsort(user_rank[users[order]], kind="stable")]
    u = users[rows]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, np.int64)
    gptr = np.append(starts, len(rows)).astype(np.int64)
    return gptr, u[starts].astype(np.int64), rows

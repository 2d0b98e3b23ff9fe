"""Numba kernels of `BPMF`: one Gibbs sweep over the rows of one side (users or items).

Notation follows Salakhutdinov & Mnih (2008), "Bayesian probabilistic matrix factorization
using Markov chain Monte Carlo", extended with biases as in Rendle's libFM MCMC: each entity has a
vector ``theta = [b, v_1..v_k]``; for a rating of entity e with partner c the design vector is
``x = [1, O[c, 1:]]`` and the target ``t = r - mu - O[c, 0]`` (the partner's bias).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=True)
def _draw_row(
    indptr, cols, vals, mu, other, prior_mean, prior_prec, alpha, z, e, out
):  # pragma: no cover
    """Draw row ``e`` of ``out`` from its Gaussian conditional posterior (``z``: its normals).

    Posterior precision ``Lam = diag(prior_prec) + alpha * sum x x^T`` and mean
    ``Lam^-1 (prior_prec * prior_mean + alpha * sum t x)``; the draw is ``mean + L^-T z``
    with ``Lam = L L^T``.
    """
    d = out.shape[1]
    lam = np.zeros((d, d))
    b = np.zeros(d)
    for f in range(d):
        lam[f, f] = prior_prec[f]
        b[f] = prior_prec[f] * prior_mean[f]
    x = np.empty(d)
    for j in range(indptr[e], indptr[e + 1]):
        c = cols[j]
        t = vals[j] - mu - other[c, 0]
        x[0] = 1.0
        for f in range(1, d):
            x[f] = other[c, f]
        for f in range(d):
            axf = alpha * x[f]
            b[f] += axf * t
            for g in range(f + 1):
                lam[f, g] += axf * x[g]
    for f in range(d):
        for g in range(f):
            lam[g, f] = lam[f, g]
    chol = np.linalg.cholesky(lam)
    # forward: chol y = b
    y = np.empty(d)
    for f in range(d):
        s = b[f]
        for g in range(f):
            s -= chol[f, g] * y[g]
        y[f] = s / chol[f, f]
    # backward: chol^T w = y + z  gives mean + L^-T z
    w = np.empty(d)
    for f in range(d - 1, -1, -1):
        s = y[f] + z[f]
        for g in range(f + 1, d):
            s -= chol[g, f] * w[g]
        w[f] = s / chol[f, f]
    for f in range(d):
        out[e, f] = w[f]


@njit(cache=True, fastmath=True, parallel=True)
def gibbs_rows(
    indptr, cols, vals, mu, other, prior_mean, prior_prec, alpha, z, out
):  # pragma: no cover
    """Draw every row of ``out`` from its Gaussian conditional posterior (see `_draw_row`).

    ``prior_mean`` has one row per entity (the group mean plus any fixed offset such as the
    implicit-feedback sum); ``z`` holds pre-drawn standard normals so results do not depend on
    the thread count.
    """
    for e in prange(out.shape[0]):
        _draw_row(indptr, cols, vals, mu, other, prior_mean[e], prior_prec, alpha, z[e], e, out)


@njit(cache=True, fastmath=True)
def gibbs_some_rows(
    indptr, cols, vals, mu, other, prior_mean, prior_prec, alpha, z, out, rows
):  # pragma: no cover
    """Draw the listed rows of ``out`` (``z[k]``: the normals of ``rows[k]``)."""
    for k in range(len(rows)):
        _draw_row(indptr, cols, vals, mu, other, prior_mean, prior_prec, alpha, z[k], rows[k], out)


@njit(cache=True, fastmath=True, parallel=True)
def pair_scores(users, items, mu, user_samples, item_samples):  # pragma: no cover
    """Posterior-mean prediction of (user, item) pairs averaged over the kept samples."""
    n = len(users)
    s_count, _, d = user_samples.shape
    out = np.empty(n)
    for k in prange(n):
        u = users[k]
        i = items[k]
        acc = 0.0
        for s in range(s_count):
            v = user_samples[s, u, 0] + item_samples[s, i, 0]
            for f in range(1, d):
                v += user_samples[s, u, f] * item_samples[s, i, f]
            acc += v
        out[k] = mu + acc / s_count
    return out


@njit(cache=True, fastmath=True, parallel=True)
def csr_residuals(indptr, cols, vals, mu, own, partner):  # pragma: no cover
    """Residual ``r - prediction`` of every stored rating, in the CSR order of ``own``'s side."""
    out = np.empty(len(vals))
    d = own.shape[1]
    for e in prange(own.shape[0]):
        for k in range(indptr[e], indptr[e + 1]):
            c = cols[k]
            v = mu + own[e, 0] + partner[c, 0]
            for f in range(1, d):
                v += own[e, f] * partner[c, f]
            out[k] = vals[k] - v
    return out


@njit(cache=True, fastmath=True)
def implicit_sweep(
    indptr, cols, resid, partner, own, agg, scale, fac, t_indptr, t_rows, prior_mean, prior_prec,
    alpha, z
):  # pragma: no cover  # fmt: skip
    """One coordinate-wise Gibbs sweep over implicit-feedback factors (Bayesian SVD++).

    An entity's row is ``own[e] = free[e] + agg[e]`` with ``agg[e] = scale[e] * sum_j fac[j]``
    over its partners j (Koren 2008's ``|N(u)|^-1/2 sum y_j``; dimension 0 is the bias, whose
    design value is 1). Each ``fac[j, f]`` is drawn from its scalar Gaussian conditional, as
    Rendle's (2012) libFM MCMC does per model parameter, with the per-entity sums
    ``G_e = sum_c x_cf resid_ec`` and ``A_e = sum_c x_cf^2`` kept current so that one dimension
    costs O(ratings). ``indptr, cols``: CSR of own entities -> partners (``resid`` in that
    order); ``t_indptr, t_rows``: CSR of partners -> the own entities that rated them. ``own``,
    ``agg``, ``fac`` and ``resid`` are updated in place.
    """
    n_own, d = own.shape
    g = np.empty(n_own)
    a = np.empty(n_own)
    du = np.empty(n_own)
    for f in range(d):
        for e in range(n_own):
            gs = 0.0
            sq = 0.0
            for k in range(indptr[e], indptr[e + 1]):
                x = 1.0 if f == 0 else partner[cols[k], f]
                gs += x * resid[k]
                sq += x * x
            g[e] = gs
            a[e] = sq
            du[e] = 0.0
        for j in range(fac.shape[0]):
            prec = prior_prec[f]
            num = prior_prec[f] * prior_mean[f]
            old = fac[j, f]
            for k in range(t_indptr[j], t_indptr[j + 1]):
                e = t_rows[k]
                s = scale[e]
                prec += alpha * s * s * a[e]
                num += alpha * s * (g[e] + s * old * a[e])
            new = num / prec + z[j, f] / np.sqrt(prec)
            delta = new - old
            fac[j, f] = new
            for k in range(t_indptr[j], t_indptr[j + 1]):
                e = t_rows[k]
                s = scale[e]
                g[e] -= s * delta * a[e]
                du[e] += s * delta
        for e in range(n_own):
            own[e, f] += du[e]
            agg[e, f] += du[e]
            for k in range(indptr[e], indptr[e + 1]):
                x = 1.0 if f == 0 else partner[cols[k], f]
                resid[k] -= du[e] * x

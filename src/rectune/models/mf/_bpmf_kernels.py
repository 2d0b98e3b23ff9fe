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

    ``z`` holds pre-drawn standard normals so results do not depend on the thread count.
    """
    for e in prange(out.shape[0]):
        _draw_row(indptr, cols, vals, mu, other, prior_mean, prior_prec, alpha, z[e], e, out)


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

"""Numba kernels of the bias models (`Baseline`; Surprise's ``baseline_only`` SGD and ALS)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=True)
def sgd_biases(users, items, values, mu, bu, bi, epochs, lr, reg):  # pragma: no cover - jit
    """Surprise's SGD baseline: b_u += lr (e - reg b_u), b_i += lr (e - reg b_i), in data order."""
    for _ in range(epochs):
        for k in range(len(users)):
            u = users[k]
            i = items[k]
            err = values[k] - (mu + bu[u] + bi[i])
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])


@njit(cache=True)
def als_biases(
    users, items, values, mu, n_users, n_items, epochs, reg_u, reg_i
):  # pragma: no cover
    """Surprise's ALS baseline: alternate closed-form item then user bias updates.

    b_i = sum_u (r_ui - mu - b_u) / (reg_i + |U_i|), then b_u likewise (Koren 2010, eq. 2.1).
    """
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    cu = np.zeros(n_users)
    ci = np.zeros(n_items)
    for k in range(len(users)):
        cu[users[k]] += 1.0
        ci[items[k]] += 1.0
    acc_u = np.empty(n_users)
    acc_i = np.empty(n_items)
    for _ in range(epochs):
        acc_i[:] = 0.0
        for k in range(len(users)):
            acc_i[items[k]] += values[k] - mu - bu[users[k]]
        for i in range(n_items):
            bi[i] = acc_i[i] / (reg_i + ci[i])
        acc_u[:] = 0.0
        for k in range(len(users)):
            acc_u[users[k]] += values[k] - mu - bi[items[k]]
        for u in range(n_users):
            bu[u] = acc_u[u] / (reg_u + cu[u])
    return bu, bi


@njit(cache=True, fastmath=True)
def sgd_biases_finetune(
    users, items, values, mu, bu, bi, bu0, bi0, lr_u, lr_i, reg, lam_u, lam_i, clip, order
):  # pragma: no cover - jit
    """One SGD epoch of the bias model with L2-SP toward (bu0, bi0), clipping, frozen groups.

    A learning rate of 0 freezes a group. L2-SP ``lam ||b - b0||^2`` is applied as a proximal
    step, ``b <- (b + 2 lr lam b0) / (1 + 2 lr lam)``, stable for any lambda (a huge lambda
    keeps the parent). ``clip`` > 0 bounds each gradient's magnitude.
    """
    for k in order:
        u = users[k]
        i = items[k]
        err = values[k] - (mu + bu[u] + bi[i])
        gu = err - reg * bu[u]
        gi = err - reg * bi[i]
        if clip > 0:
            gu = max(-clip, min(clip, gu))
            gi = max(-clip, min(clip, gi))
        if lr_u > 0:
            b = bu[u] + lr_u * gu
            bu[u] = (b + 2 * lr_u * lam_u * bu0[u]) / (1 + 2 * lr_u * lam_u)
        if lr_i > 0:
            b = bi[i] + lr_i * gi
            bi[i] = (b + 2 * lr_i * lam_i * bi0[i]) / (1 + 2 * lr_i * lam_i)

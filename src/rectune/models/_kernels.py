"""Small numba kernels shared by several models."""

from __future__ import annotations

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

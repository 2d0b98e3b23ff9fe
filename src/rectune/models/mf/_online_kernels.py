"""Numba kernels of per-event learning for `SVD`: the compiled prequential loop and the
one-event steps behind ``learn_one`` / ``predict_one`` / ``predict_learn_one``.

All of them run the same inlined event step (`_event`), so one event learned through the
per-event API and the same event inside `prequential_sgd` give bit-identical numbers.

The per-event kernels take the online scalars in one float64 control array ``ctl`` (indices
below) instead of a dozen arguments: a Python call into numba costs about 40 ns per argument,
which is most of the time of a per-event call.

``fastmath`` allows reordering (the factor loops vectorise) but keeps NaN and infinity
semantics: a NaN bound means "not clipped yet" and must compare as NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: LLVM fast-math flags without ``nnan``/``ninf`` (NaN bounds are meaningful here).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Layout of the control array ``ctl`` (float64) of the per-event kernels.
MU = 0  # the global mean mu
MEAN_N = 1  # values in the running mean (-1: mu fixed)
LO = 2  # clipping bounds (NaN: none yet)
HI = 3
RUNNING = 4  # 1: the bounds grow with the values learned
BIASED = 5  # 1: mu + b_u + b_i are part of the estimate
LR = 6  # step sizes of (b_u, b_i, p_u, q_i): ctl[LR:LR + 4]
REG = 10  # penalties, same order
N_NEW = 14  # events learned since `fit_info_` was last read
DIRTY = 15  # 1: learned since `artifact_` was last set
N_PEND = 16  # events waiting in the pending buffer (absorbed into ``seen_`` when read)
CLIP_PREDICT = 17  # 1: `predict_one` clips to the bounds (rating data)
CTL_SIZE = 18


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot(pu, qi):  # pragma: no cover - jit
    dot = np.float32(0.0)
    for f in range(pu.shape[0]):
        dot += pu[f] * qi[f]
    return dot


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _clip(est, lo, hi):  # pragma: no cover - jit
    if not np.isnan(lo) and est < lo:
        est = lo
    if not np.isnan(hi) and est > hi:
        est = hi
    return est


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _event(u, i, y, mu, mean_n, bu, bi, P, Q, lr, reg, biased, lo, hi, running):  # pragma: no cover
    """Predict, then learn, one event; returns (estimate, mu, mean_n, lo, hi) after it."""
    pu = P[u]
    qi = Q[i]
    dot = _dot(pu, qi)
    base = mu + bu[u] + bi[i] if biased else 0.0
    est = _clip(base + dot, lo, hi)
    if running and not y >= lo:
        lo = y
    if running and not y <= hi:
        hi = y
    if mean_n >= 0 and biased:
        mean_n += 1
        mu += (y - mu) / mean_n
    err = y - ((mu + bu[u] + bi[i] if biased else 0.0) + dot)
    if biased:
        bu[u] += lr[0] * (err - reg[0] * bu[u])
        bi[i] += lr[1] * (err - reg[1] * bi[i])
    a_p = np.float32(lr[2] * err)
    d_p = np.float32(1.0 - lr[2] * reg[2])
    a_q = np.float32(lr[3] * err)
    d_q = np.float32(1.0 - lr[3] * reg[3])
    for f in range(pu.shape[0]):
        puf = pu[f]
        qif = qi[f]
        pu[f] = d_p * puf + a_p * qif
        qi[f] = d_q * qif + a_q * puf
    return est, mu, mean_n, lo, hi


@njit(cache=True, fastmath=FASTMATH)
def prequential_sgd(
    users, items, values, mu, mean_n, bu, bi, P, Q, lr, reg, biased, lo, hi, running, out
):  # pragma: no cover - jit
    """Predict-then-learn over events in the given order (prequential evaluation, Dawid 1984).

    For each event: ``out[t] = clip(mu + b_u + b_i + p_u . q_i)`` from the state *before* the
    event, then one SGD step on it. ``mean_n`` >= 0 makes ``mu`` a running mean updated with
    the event's value before its step (River's ``BiasedMF``); -1 keeps ``mu`` fixed. Clipping
    to ``[lo, hi]``; NaN bounds mean the running range of the values learned so far (no
    clipping before the first one). Returns the final (mu, mean_n, lo, hi).
    """
    for t in range(len(users)):
        est, mu, mean_n, lo, hi = _event(
            users[t], items[t], values[t], mu, mean_n, bu, bi, P, Q, lr, reg, biased, lo, hi,
            running,
        )  # fmt: skip
        out[t] = est
    return mu, mean_n, lo, hi


@njit(cache=True, fastmath=FASTMATH)
def learn_step(u, i, y, bu, bi, P, Q, ctl, pend):  # pragma: no cover - jit
    """`_event` on one event with the scalars in ``ctl``; the event is written to the pending
    buffer ``pend`` (rows of (user, item, value); the caller keeps room). Returns the estimate."""
    est, mu, mean_n, lo, hi = _event(
        u, i, y, ctl[MU], np.int64(ctl[MEAN_N]), bu, bi, P, Q, ctl[LR : LR + 4],
        ctl[REG : REG + 4], ctl[BIASED] != 0.0, ctl[LO], ctl[HI], ctl[RUNNING] != 0.0,
    )  # fmt: skip
    ctl[MU] = mu
    ctl[MEAN_N] = mean_n
    ctl[LO] = lo
    ctl[HI] = hi
    ctl[N_NEW] += 1.0
    ctl[DIRTY] = 1.0
    n = np.int64(ctl[N_PEND])
    pend[n, 0] = u
    pend[n, 1] = i
    pend[n, 2] = y
    ctl[N_PEND] = n + 1
    return est


@njit(cache=True, fastmath=FASTMATH)
def estimate_one(u, i, bu, bi, P, Q, ctl):  # pragma: no cover - jit
    """The estimate `_event` would make for (u, i), clipped as `predict` clips."""
    dot = _dot(P[u], Q[i])
    base = ctl[MU] + bu[u] + bi[i] if ctl[BIASED] != 0.0 else 0.0
    if ctl[CLIP_PREDICT] == 0.0:
        return base + dot
    return _clip(base + dot, ctl[LO], ctl[HI])

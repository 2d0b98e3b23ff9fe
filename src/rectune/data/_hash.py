"""Fast, stable content fingerprints of interaction data (not cryptographic).

A fingerprint names a dataset in lineage records: equal rows (raw ids, values, timestamps, in
order) give equal fingerprints whatever the id maps look like. SHA-256 over a 100K-row dataset
costs more than fitting a bias model, so rows are mixed by a compiled 2x64-bit splitmix hash.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numba import njit

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def _mix(x):  # pragma: no cover - jit
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@njit(cache=True)
def _rows_hash(ukeys, users, ikeys, items, vbits, tbits, has_t):  # pragma: no cover - jit
    h1 = np.uint64(0x9E3779B97F4A7C15)
    h2 = np.uint64(0xD1B54A32D192ED03)
    for k in range(len(users)):
        a = np.uint64(ukeys[users[k]])
        b = np.uint64(ikeys[items[k]])
        c = np.uint64(vbits[k])
        d = np.uint64(tbits[k]) if has_t else np.uint64(0)
        x = _mix(a ^ _mix(b + np.uint64(0x632BE59BD9B4E019)))
        y = _mix(c ^ _mix(d + np.uint64(0x8CB92BA72F3D8DD7)))
        h1 = _mix(h1 ^ x) + y
        h2 = _mix(h2 + y) ^ x
    return h1, h2


def id_keys(ids: np.ndarray) -> np.ndarray:
    """One int64 key per raw id: the id itself for integers, a blake2b digest for strings."""
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64)
    return np.array(
        [
            int.from_bytes(
                hashlib.blake2b(str(x).encode(), digest_size=8).digest(), "little", signed=True
            )
            for x in ids
        ],
        dtype=np.int64,
    )


def rows_fingerprint(
    ukeys: np.ndarray,
    users: np.ndarray,
    ikeys: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    timestamps: np.ndarray | None,
) -> str:
    """32-hex-digit fingerprint of the rows."""
    vbits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    tbits = vbits if timestamps is None else timestamps.astype(np.int64)
    h1, h2 = _rows_hash(ukeys, users, ikeys, items, vbits, tbits, timestamps is not None)
    return f"{int(h1):016x}{int(h2):016x}"

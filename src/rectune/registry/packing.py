"""Lossless packing of a compressed artifact's integer arrays, constants, scales and id maps.

- `varint_encode` / `varint_decode`: a 1-D integer array as the LEB128 varints of its zigzagged
  successive differences (the scheme of Protocol Buffers' ``sint64``), so sorted indices and
  offsets (CSR column indices within a row, integer id maps, ``indptr``) take one or two bytes
  a value instead of four or eight.
- `half_scales`: per-row int8 scales chosen on a float16 grid (shifted by a per-table power of
  two, so small scales stay normal float16 numbers), stored in two bytes each.
- `pack_dtype` / `dyadic_step`: the narrowest dtype (or power-of-two step) that holds an
  array's values exactly.
- `encode_ids` / `decode_ids`: an integer id map in ``ids.json`` as base64 varint deltas.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

#: Narrow dtypes `pack_dtype` tries, smallest first.
_PACK_DTYPES = ("uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32")
#: The smallest normal float16 and the top of the range the scales are shifted into.
_F16_TINY = 2.0**-14
_F16_TOP = 14


def pack_dtype(x: np.ndarray) -> str | None:
    """The narrowest dtype holding every value of ``x`` exactly, if narrower than its own."""
    if x.dtype.kind not in "biuf" or x.size == 0:
        return None
    for name in _PACK_DTYPES:
        dt = np.dtype(name)
        if dt.itemsize >= x.dtype.itemsize:
            return None
        if x.dtype.kind in "biu" and dt.kind == "f":
            continue  # integers stay integers
        if x.dtype.kind == "f" and dt.kind != "f" and not np.all(np.isfinite(x)):
            continue
        if dt.kind in "iu":
            info = np.iinfo(dt)
            lo, hi = x.min(), x.max()
            if lo < info.min or hi > info.max:
                continue
        with np.errstate(over="ignore", invalid="ignore"):
            if np.array_equal(x.astype(dt).astype(x.dtype), x):
                return name
    return None


def dyadic_step(x: np.ndarray) -> tuple[float, str | None]:
    """The step ``2**-e`` (e = 1..3) on which every value of the float array ``x`` lies, and
    the narrowest integer dtype holding ``x / step`` exactly (``(1.0, None)`` if none)."""
    if x.size == 0 or not np.all(np.isfinite(x)):
        return 1.0, None
    for e in (1, 2, 3):
        step = 2.0**-e
        codes = x / step  # exact: a power-of-two scaling
        if np.array_equal(np.rint(codes), codes):
            dt = pack_dtype(codes)
            if dt is not None and np.dtype(dt).kind in "iu":
                return step, dt
    return 1.0, None


def varint_encode(x: np.ndarray) -> np.ndarray:
    """The bytes (uint8) of the zigzag-varint deltas of the 1-D integer array ``x``.

    Examples
    --------
    >>> varint_encode(np.array([3, 4, 200])).tolist()
    [6, 2, 136, 3]
    >>> varint_decode(varint_encode(np.array([3, 4, 200])), 3).tolist()
    [3, 4, 200]
    """
    v = np.asarray(x).astype(np.int64).ravel()
    d = np.diff(v, prepend=np.int64(0))
    z = ((d << 1) ^ (d >> 63)).view(np.uint64)  # zigzag: small magnitudes -> small codes
    n = np.ones(len(z), dtype=np.int64)
    for k in range(1, 10):
        n += z >= np.uint64(1 << (7 * k))
    out = np.zeros(int(n.sum()), dtype=np.uint8)
    start = np.cumsum(n) - n
    for j in range(int(n.max()) if len(n) else 0):
        rows = np.flatnonzero(n > j)
        low = (z[rows] >> np.uint64(7 * j)) & np.uint64(0x7F)
        more = (n[rows] - 1 > j).astype(np.uint64) << np.uint64(7)
        out[start[rows] + j] = (low | more).astype(np.uint8)
    return out


def varint_decode(data: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` int64 values `varint_encode` wrote into ``data``; ValueError if the bytes
    do not hold exactly that many well-formed varints."""
    b = np.asarray(data)
    if b.dtype != np.uint8 or b.ndim != 1:
        raise ValueError(f"varint bytes must be a 1-D uint8 array, not {b.dtype} {b.shape}")
    ends = np.flatnonzero(b < 0x80)
    if len(ends) != count or (count and ends[-1] != len(b) - 1) or (not count and len(b)):
        raise ValueError(f"holds {len(ends)} complete varints in {len(b)} bytes, not {count}")
    if not count:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise ValueError("a varint longer than 10 bytes")
    pos = np.arange(len(b)) - np.repeat(starts, lengths)
    parts = (b & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
    z = np.add.reduceat(parts, starts)
    d = (z >> np.uint64(1)).view(np.int64) ^ -(z & np.uint64(1)).view(np.int64)
    return np.cumsum(d)


def varint_size(x: np.ndarray) -> int:
    """Bytes `varint_encode` would write for ``x`` (to choose it only where it is smaller)."""
    d = np.diff(np.asarray(x).astype(np.int64).ravel(), prepend=np.int64(0))
    z = ((d << 1) ^ (d >> 63)).view(np.uint64)
    n = len(z)
    for k in range(1, 10):
        n += int(np.count_nonzero(z >= np.uint64(1 << (7 * k))))
    return n


def half_scales(scale: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``scale`` (float32 per-row scales) as float16 values and the power of two ``e`` with
    ``scale == half * 2**-e`` exactly; None if some scale is not so representable."""
    s = np.asarray(scale, dtype=np.float64)
    if not s.size or not np.all(np.isfinite(s)) or s.min() < 0:
        return None
    top = s.max()
    e = 0 if top == 0 else _F16_TOP - int(np.floor(np.log2(top)))
    shifted = np.ldexp(s, e)
    if np.any((shifted > 0) & (shifted < _F16_TINY)):
        return None
    half = shifted.astype(np.float16)
    if not np.array_equal(np.ldexp(half.astype(np.float64), -e), s):
        return None
    return half, e


def on_half_grid(scale: np.ndarray) -> np.ndarray:
    """``scale`` rounded up onto the float16 grid `half_scales` stores exactly (unchanged,
    as float32, if the table's scales span more than float16's range)."""
    s = np.asarray(scale, dtype=np.float64)
    top = s.max() if s.size else 0.0
    if top == 0 or not np.all(np.isfinite(s)):
        return np.asarray(scale, dtype=np.float32)
    e = _F16_TOP - int(np.floor(np.log2(top)))
    shifted = np.ldexp(s, e)
    if np.any((shifted > 0) & (shifted < _F16_TINY)):
        return np.asarray(scale, dtype=np.float32)
    half = shifted.astype(np.float16)
    low = half.astype(np.float64) < shifted  # round up: max|x| / s never exceeds 127
    half[low] = np.nextafter(half[low], np.float16(np.inf))
    return np.ldexp(half.astype(np.float64), -e).astype(np.float32)


def encode_ids(obj: dict[str, Any]) -> dict[str, Any]:
    """An id map's JSON (`IdMap.to_json`) with integer ids as base64 varint deltas."""
    if obj.get("dtype") != "int64" or len(obj.get("ids", ())) < 16:
        return obj
    ids = np.asarray(obj["ids"], dtype=np.int64)
    text = base64.b64encode(varint_encode(ids).tobytes()).decode("ascii")
    return {"dtype": "int64", "n": len(ids), "varint": text}


def decode_ids(obj: Any) -> Any:
    """The `IdMap.to_json` form of what `encode_ids` wrote (other objects unchanged)."""
    if not isinstance(obj, dict) or "varint" not in obj:
        return obj
    n, text = obj.get("n"), obj["varint"]
    if not isinstance(n, int) or n < 0 or not isinstance(text, str):
        raise ValueError("a varint id map needs an integer 'n' and a base64 'varint' string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"'varint' is not base64 ({exc})") from None
    ids = varint_decode(np.frombuffer(raw, dtype=np.uint8), n)
    return {"dtype": "int64", "ids": ids}

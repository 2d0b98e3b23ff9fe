"""How a compressed artifact stores its arrays: int8 with per-row scales, fp16, sparse, packed.

An ordinary artifact keeps every state array as it is in ``params.npz``. A compressed one
(`rectune.compression`) names, in ``config.json`` under ``"storage"``, the arrays it stores
another way and how, and `decode_state` turns them back into the arrays the model reads:

- ``int8``: symmetric per-row quantization (Jacob et al. 2018, "Quantization and training of
  neural networks for efficient integer-arithmetic-only inference", with one scale per row as
  in per-channel weight quantization): ``q = round(x / s)`` with ``s = max|row| / 127``;
  ``q`` is stored under the array's own key, ``s`` under ``<key>@scale``: since format 3 as
  float16 times ``2**-scale_exp`` (the scales are chosen on that grid, `packing.half_scales`),
  float32 where a table's scales span more than float16's range (and in format 2).
- ``fp16``: the array cast to float16.
- ``sparse``: a 2-D array's nonzero entries as CSR (``<key>@data``, ``<key>@indices``,
  ``<key>@indptr``), for pruned matrices.
- ``pack``: a lossless cast to the narrowest dtype that holds every value exactly (item indices
  as uint16, integer ratings as uint8, ...); `pack_plan` picks the arrays it helps.
- ``utf8``: an array of strings (numpy stores 4 bytes a character) as its UTF-8 bytes
  (``<key>@data``, uint8) and the end offset of each string (``<key>@offsets``).
- ``varint``: a 1-D integer array as zigzag varint deltas (``packing.varint_encode``): the
  seen matrix's column indices and offsets, in one or two bytes each.
- ``const``: nothing stored but the one value every element has (``"value"``), e.g. the seen
  matrix's weights of binarized data.
- ``seen_count``: nothing stored; the array is the number of seen entries of each item (the
  popularity of binarized data), recomputed on load. Applied only when equal exactly.
- ``seen_gram``: nothing stored; the array is the Gram matrix ``S^T S`` of the artifact's seen
  matrix ``S`` (EASE keeps it for updates) and is recomputed on load. Applied only when the
  array equals it exactly.

Format 3 also writes ``params.npz`` deflated (zip) and integer id maps in ``ids.json`` as
varint deltas (`packing.encode_ids`); formats 1 and 2 keep loading.

Decoding gives back the recorded dtype and shape (int8 and fp16 values dequantized: the model
scores, trains and updates in its own float precision). Every inconsistency is an
`ArtifactError` naming the file and the entry.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rectune.errors import ArtifactError
from rectune.registry.packing import (
    dyadic_step,
    half_scales,
    on_half_grid,
    pack_dtype,
    varint_decode,
    varint_encode,
    varint_size,
)

logger = logging.getLogger(__name__)

#: Codecs that carry a compression decision (the others are lossless packing of the rest).
DECIDED = ("int8", "fp16", "sparse")
#: The artifact format version of an artifact with compressed storage (2: before varint,
#: const, seen_count, float16 scales, deflate and compact ids; still read).
COMPRESSED_VERSION = 3
CODECS = ("int8", "fp16", "sparse", "pack", "seen_gram", "utf8", "varint", "const", "seen_count")
#: Codecs recomputed from the seen matrix on load (decoded after it, in this order).
_DERIVED = ("seen_count", "seen_gram")
#: Integers beyond this magnitude are never varint-coded (their zigzag deltas could overflow).
_VARINT_MAX = 2**60
_SUFFIXES = ("@scale", "@data", "@indices", "@indptr", "@offsets")


def quantize_int8(x: np.ndarray, *, half: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric int8 codes and float32 scales of ``x`` (rows: all axes but the last).

    Each scale is ``max|row| / 127`` rounded up onto the float16 grid the artifact stores in
    two bytes (`packing.half_scales`; a relative change below 0.1%, so the codes still reach
    127), unless the table's scales span more than float16's range or ``half`` is False (the
    float32 scales of format 2).

    Examples
    --------
    >>> q, s = quantize_int8(np.array([[1.0, -0.5], [0.0, 0.0]]))
    >>> q.tolist(), s.tolist()
    ([[127, -63], [0, 0]], [0.00788116455078125, 0.0])
    """
    rows = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1] if x.ndim else 1)
    peak = np.abs(rows).max(axis=1) if rows.shape[1] else np.zeros(len(rows))
    scale = (peak / 127.0).astype(np.float32)
    if half:
        scale = on_half_grid(scale)
    safe = np.where(scale > 0, scale, 1.0).astype(np.float64)
    q = np.clip(np.rint(rows / safe[:, None]), -127, 127).astype(np.int8)
    return q.reshape(x.shape), scale


def dequantize_int8(q: np.ndarray, scale: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """The values the codes ``q`` and per-row ``scale`` stand for, as ``dtype``."""
    rows = q.reshape(-1, q.shape[-1] if q.ndim else 1).astype(np.float32)
    return (rows * scale.astype(np.float32)[:, None]).astype(dtype).reshape(q.shape)


def pack_plan(state: Mapping[str, np.ndarray], skip: Any = ()) -> dict[str, str]:
    """Lossless codecs for the arrays (not in ``skip``) they shrink: ``utf8`` for strings,
    ``const`` where every value is the same, ``seen_count`` for a popularity equal to the seen
    matrix's column counts, else the smaller of ``varint`` and ``pack`` (a narrower dtype)."""
    plan = {}
    for k, v in state.items():
        v = np.asarray(v)
        if k in skip or v.size < 16:
            continue
        if v.dtype.kind == "U":
            plan[k] = "utf8"
            continue
        if v.dtype.kind in "iuf" and np.all(v == v.flat[0]) and np.isfinite(v.flat[0]):
            plan[k] = "const"
            continue
        if k == "_item_popularity" and "_seen_indices" in state and v.ndim == 1:
            if np.array_equal(seen_count(state, len(v), v.dtype), v):
                plan[k] = "seen_count"
                continue
        dt = pack_dtype(v)
        packed = v.size * np.dtype(dt).itemsize if dt is not None else v.nbytes
        if v.dtype.kind in "iu" and v.ndim == 1 and _varint_ok(v) and varint_size(v) < packed:
            plan[k] = "varint"
        elif dt is not None:
            plan[k] = "pack"
    return plan


def _varint_ok(x: np.ndarray) -> bool:
    """Whether the integers ``x`` are small enough for overflow-free zigzag deltas."""
    return not x.size or (int(x.max()) < _VARINT_MAX and int(x.min()) > -_VARINT_MAX)


def encode_state(
    state: Mapping[str, np.ndarray], plan: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """The arrays to write and the ``storage`` record of how ``plan`` stored each one.

    An ``int8``/``fp16`` entry whose array is no longer on its grid (the model trained since it
    was compressed) is stored as it is: a lossy codec is applied by `rectune.compression`, never
    by a save. A ``sparse`` entry denser than its dense form, and a ``pack`` entry no dtype
    narrows, are stored as they are too.
    """
    out = {k: np.asarray(v) for k, v in state.items()}
    meta: dict[str, dict[str, Any]] = {}
    for key, codec in plan.items():
        if codec not in CODECS:
            raise ArtifactError(f"storage of {key!r}: unknown codec {codec!r} (one of {CODECS})")
        if key not in out:
            continue
        x = out[key]
        rec: dict[str, Any] = {"codec": codec, "dtype": str(x.dtype), "shape": list(x.shape)}
        if codec == "int8":
            if x.dtype.kind != "f" or x.ndim < 2:
                raise ArtifactError(f"int8 storage of {key!r} needs a float array of rows")
            for half in (True, False):  # False: values put on format 2's float32 grid
                q, scale = quantize_int8(x, half=half)
                if np.allclose(dequantize_int8(q, scale, x.dtype), x, rtol=1e-5, atol=1e-7):
                    break
            else:
                continue
            half = half_scales(scale)
            if half is not None:
                scale, rec["scale_exp"] = half
            out[key], out[key + "@scale"] = q, scale
        elif codec == "fp16":
            half = x.astype(np.float16)
            if x.dtype.kind != "f" or not np.allclose(half.astype(x.dtype), x, rtol=1e-6):
                continue
            out[key] = half
        elif codec == "sparse":
            if x.ndim != 2:
                raise ArtifactError(f"sparse storage of {key!r} needs a 2-D array")
            rows, cols = np.nonzero(x)
            if len(rows) * (x.itemsize + 4) >= x.nbytes:
                continue
            indptr = np.searchsorted(rows, np.arange(x.shape[0] + 1)).astype(np.int64)
            out[key + "@data"] = x[rows, cols]
            out[key + "@indices"] = cols.astype(np.uint16 if x.shape[1] <= 65536 else np.int32)
            out[key + "@indptr"] = indptr.astype(pack_dtype(indptr) or indptr.dtype)
            del out[key]
        elif codec == "utf8":
            if x.dtype.kind != "U":
                raise ArtifactError(f"utf8 storage of {key!r} needs an array of strings")
            chunks = [str(t).encode("utf-8") for t in x.ravel()]
            offsets = np.cumsum([len(c) for c in chunks], dtype=np.int64)
            out[key + "@data"] = np.frombuffer(b"".join(chunks), dtype=np.uint8).copy()
            out[key + "@offsets"] = offsets.astype(pack_dtype(offsets) or np.int64)
            del out[key]
        elif codec == "seen_gram":
            if not np.array_equal(seen_gram(state, x.dtype), x):
                continue
            del out[key]
        elif codec == "seen_count":
            if x.ndim != 1 or not np.array_equal(seen_count(state, len(x), x.dtype), x):
                continue
            del out[key]
        elif codec == "const":
            if x.dtype.kind not in "iuf" or not x.size or not np.all(x == x.flat[0]):
                continue
            if not np.isfinite(x.flat[0]):
                continue
            rec["value"] = x.flat[0].item()
            del out[key]
        elif codec == "varint":
            if x.dtype.kind not in "iu" or x.ndim != 1 or not _varint_ok(x):
                continue
            out[key] = varint_encode(x)
        else:
            dt, step = pack_dtype(x), 1.0
            if x.dtype.kind == "f" and (dt is None or np.dtype(dt).itemsize > 1):
                step, finer = dyadic_step(x)  # half-star ratings: 2 x rating in a uint8
                if finer is not None and (
                    dt is None or np.dtype(finer).itemsize < np.dtype(dt).itemsize
                ):
                    dt = finer
                else:
                    step = 1.0
            if dt is None:
                continue
            out[key] = (x / step).astype(dt) if step != 1.0 else x.astype(dt)
            if step != 1.0:
                rec["step"] = step
        meta[key] = rec
    return out, meta


def decode_state(stored: dict[str, np.ndarray], storage: Any, fpath: Path) -> dict[str, np.ndarray]:
    """The state arrays of a compressed artifact's ``params.npz`` (``fpath``), decoded."""
    if not isinstance(storage, dict):
        raise ArtifactError(f"{fpath.parent / 'config.json'}: entry 'storage' must be an object")
    state = dict(stored)

    def bad(key: str, why: str) -> ArtifactError:
        return ArtifactError(f"{fpath}: entry {key!r} {why}")

    # the seen matrix first: recomputed arrays read it (the popularity before the Gram matrix)
    def rank(kv: tuple[str, Any]) -> int:
        codec = kv[1].get("codec") if isinstance(kv[1], dict) else None
        return _DERIVED.index(codec) + 1 if codec in _DERIVED else 0

    order = sorted(storage.items(), key=rank)
    for key, rec in order:
        if not isinstance(rec, dict) or rec.get("codec") not in CODECS:
            raise ArtifactError(
                f"{fpath.parent / 'config.json'}: entry 'storage.{key}' needs a codec in {CODECS}"
            )
        try:
            dtype, shape = np.dtype(rec["dtype"]), tuple(int(n) for n in rec["shape"])
        except (KeyError, TypeError, ValueError):
            raise ArtifactError(
                f"{fpath.parent / 'config.json'}: entry 'storage.{key}' needs dtype and shape"
            ) from None
        codec = rec["codec"]
        if codec == "sparse":
            parts = [state.pop(key + s, None) for s in ("@data", "@indices", "@indptr")]
            if any(p is None for p in parts):
                raise bad(key, "is stored sparse but lacks @data, @indices or @indptr")
            data, indices, indptr = parts
            if len(shape) != 2 or len(indptr) != shape[0] + 1 or len(data) != len(indices):
                raise bad(key, f"sparse parts do not make a {shape} matrix")
            if len(indices) and (indices.min() < 0 or indices.max() >= shape[1]):
                raise bad(key, f"sparse column indices out of range [0, {shape[1]})")
            if indptr[0] != 0 or indptr[-1] != len(data) or np.any(np.diff(indptr) < 0):
                raise bad(key + "@indptr", "must rise from 0 to the number of entries")
            dense = np.zeros(shape, dtype=dtype)
            rows = np.repeat(np.arange(shape[0]), np.diff(indptr.astype(np.int64)))
            dense[rows, indices.astype(np.int64)] = data
            state[key] = dense
            continue
        if codec == "seen_gram":
            try:
                gram = seen_gram(state, dtype)
            except (KeyError, ValueError, IndexError) as exc:
                raise bad(key, f"cannot be recomputed from the seen matrix ({exc})") from None
            if gram.shape != shape:
                raise bad(
                    key, f"recomputed from the seen matrix has shape {gram.shape}, not {shape}"
                )
            state[key] = gram
            continue
        if codec == "seen_count":
            try:
                state[key] = seen_count(state, int(np.prod(shape)), dtype).reshape(shape)
            except (KeyError, ValueError) as exc:
                raise bad(key, f"cannot be recomputed from the seen matrix ({exc})") from None
            continue
        if codec == "const":
            value = rec.get("value")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad(key, f"const storage needs a numeric 'value', not {value!r}")
            if key in state:
                raise bad(key, "is stored although its storage is const")
            state[key] = np.full(shape, value, dtype=dtype)
            continue
        if codec == "utf8":
            data, offsets = state.pop(key + "@data", None), state.pop(key + "@offsets", None)
            n = int(np.prod(shape))
            if data is None or offsets is None or offsets.shape != (n,):
                raise bad(key, f"utf8 storage needs @data bytes and {n} @offsets")
            ends = offsets.astype(np.int64)
            if n and (np.any(np.diff(ends) < 0) or ends[0] < 0 or ends[-1] != len(data)):
                raise bad(key + "@offsets", "must rise to the number of bytes in @data")
            raw = data.astype(np.uint8).tobytes()
            starts = np.concatenate([[0], ends[:-1]]) if n else ends
            try:
                texts = [raw[a:b].decode("utf-8") for a, b in zip(starts, ends, strict=True)]
            except UnicodeDecodeError as exc:
                raise bad(key + "@data", f"is not UTF-8 ({exc})") from None
            state[key] = np.array(texts, dtype=dtype).reshape(shape)
            continue
        if key not in state:
            raise bad(key, f"is missing (storage names it, codec {codec})")
        x = state[key]
        if codec == "varint":
            try:
                values = varint_decode(x, int(np.prod(shape)))
            except ValueError as exc:
                raise bad(key, f"varint storage {exc}") from None
            if dtype.kind not in "iu" or (
                values.size
                and (values.min() < np.iinfo(dtype).min or values.max() > np.iinfo(dtype).max)
            ):
                raise bad(key, f"varint values do not fit its dtype {dtype}")
            state[key] = values.astype(dtype).reshape(shape)
            continue
        if x.shape != shape:
            raise bad(key, f"has shape {x.shape}, storage says {shape}")
        if codec == "int8":
            scale = state.pop(key + "@scale", None)
            rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            if x.dtype != np.int8 or scale is None or scale.shape != (rows,):
                raise bad(key, f"int8 storage needs int8 codes and {rows} scales in @scale")
            exp = rec.get("scale_exp", 0)
            if scale.dtype not in (np.float16, np.float32) or not isinstance(exp, int):
                raise bad(key + "@scale", "must be float16 or float32 with an integer scale_exp")
            if exp:
                scale = np.ldexp(scale.astype(np.float64), -exp).astype(np.float32)
            state[key] = dequantize_int8(x, scale, dtype)
        else:
            step = rec.get("step", 1.0)
            if not isinstance(step, float | int) or not step > 0:
                raise bad(key, f"storage step must be a positive number, not {step!r}")
            state[key] = x.astype(dtype) * dtype.type(step) if step != 1.0 else x.astype(dtype)
    leftover = [k for k in state if k.endswith(_SUFFIXES) and "@" in k]
    if leftover:
        raise bad(leftover[0], "is a storage part no 'storage' entry names")
    return state


def seen_gram(state: Mapping[str, np.ndarray], dtype: Any) -> np.ndarray:
    """``S^T S`` of the seen matrix held in ``state`` (users x items, dense, as ``dtype``)."""
    import scipy.sparse as sp

    indptr, indices = state["_seen_indptr"].astype(np.int64), state["_seen_indices"]
    n_items = len(state["_item_popularity"])
    m = sp.csr_matrix(
        (state["_seen_data"].astype(np.float64), indices.astype(np.int64), indptr),
        shape=(len(indptr) - 1, n_items),
    )
    return np.asarray((m.T @ m).toarray(), dtype=np.float64).astype(dtype)


def seen_count(state: Mapping[str, np.ndarray], n_items: int, dtype: Any) -> np.ndarray:
    """The number of seen entries of each item (the seen matrix held in ``state``)."""
    counts = np.bincount(state["_seen_indices"].astype(np.int64), minlength=n_items)
    if len(counts) != n_items:
        raise ValueError(f"seen item indices reach {len(counts) - 1}, beyond {n_items} items")
    return counts.astype(dtype)


def storage_bytes(state: Mapping[str, np.ndarray]) -> int:
    """Bytes of the arrays' data (what ``params.npz`` holds, headers aside)."""
    return int(sum(np.asarray(v).nbytes for v in state.values()))


def stored_compressed(model: Any, state: dict[str, Any], cfg: dict[str, Any]) -> Any:
    """``state`` encoded as the model's compression plan says (``model.compression_``), the
    storage record added to ``cfg``; unchanged for an ordinary model.

    Lossy codecs apply only to arrays still on their grid: a compressed model trained since
    (fine-tune, update) is saved in float, and a plan none of whose lossy entries apply any
    more is dropped (the artifact is an ordinary one again, its lineage naming the parent).
    """
    comp = getattr(model, "compression_", None)
    if not comp or not comp.get("storage"):
        return state
    plan = comp["storage"]
    stored, meta = encode_state(state, plan)
    lossy = [k for k, c in plan.items() if c in DECIDED and k in state]
    floated = [k for k in lossy if k not in meta]
    if lossy and len(floated) == len(lossy):
        logger.info("%s left its compressed grid (trained since): saved in float", model.name)
        return state
    if meta:
        record = {k: v for k, v in comp.items() if k != "storage"}
        cfg.update(format_version=COMPRESSED_VERSION, storage=meta, compression=record)
        if floated:
            record["stored_float"] = floated
    return stored


def parent_compression(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """How the parent artifact at ``path`` was compressed (None for an ordinary one): a child
    trained from it started from its dequantized float values."""
    try:
        cfg = json.loads((Path(path) / "config.json").read_text()) if path else None
    except (OSError, ValueError):
        return None
    comp = cfg.get("compression") if isinstance(cfg, dict) else None
    if not isinstance(comp, dict):
        return None
    return {"method": comp.get("method"), "trained_from": "dequantized float values"}

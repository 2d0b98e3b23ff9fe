"""Checks of raw events at the boundary: nothing non-finite or missing gets into a model.

One NaN rating turns every prediction of a factor model into NaN, and a None id silently becomes
the string id ``"None"``. `check_events` refuses such input with a `DataError` naming the row
(its 0-based position) and the field, so that every way events come in (`Interactions.from_raw`,
`Interactions.from_frame`, `partial_fit`, `learn_one`) runs the same check.

The checks are vectorised masks; only the first bad row is examined element by element to say
what is wrong with it. Clean integer ids, float values and integer timestamps cost one
`numpy.isfinite` pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rectune.errors import DataError

#: Canonical field names, in the order a tie on the same row is reported.
FIELDS = ("user_id", "item_id", "value", "timestamp")
_INT64_LIMIT = 2.0**63
#: `pandas.api.types.infer_dtype` results that cannot hold an infinite float.
_NO_FLOATS = frozenset({"string", "bytes", "integer", "boolean", "empty"})

Problem = tuple[int, str]  # (row, reason)


def check_events(
    users: Any,
    items: Any,
    values: Any = None,
    timestamps: Any = None,
    *,
    fields: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Refuse missing or non-finite ids, values and timestamps; return values and timestamps.

    Parameters
    ----------
    users, items
        Raw ids, one per event. None, NaN, NaT, pandas NA and infinite floats are refused.
    values
        Ratings or weights (None: every event weighs 1). Must convert to finite floats.
    timestamps
        Optional event times. Must be present, finite and within the int64 range.
    fields
        Names to report instead of the canonical ``user_id``, ``item_id``, ``value`` and
        ``timestamp`` (for example ``{"value": "rating"}``, or a frame's own column names).

    Returns
    -------
    tuple
        The values as a float64 array and the timestamps as an int64 array (or None), so a
        caller converts once.

    Raises
    ------
    DataError
        For the earliest bad row: ``row`` is its 0-based position, ``field`` the field.

    Examples
    --------
    >>> vals, ts = check_events(["u1", "u2"], [1, 2], [5, 3.5])
    >>> vals.tolist(), ts
    ([5.0, 3.5], None)
    >>> check_events(["u1", "u2"], [1, 2], [5, float("nan")], fields={"value": "rating"})
    Traceback (most recent call last):
    ...
    rectune.errors.DataError: row 1, field 'rating': not finite: nan
    """
    names = {f: f for f in FIELDS}
    names.update({k: v for k, v in (fields or {}).items() if v is not None})
    u = _as_1d(users, names["user_id"])
    i = _as_1d(items, names["item_id"])
    v = None if values is None else _as_1d(values, names["value"])
    t = None if timestamps is None else _as_1d(timestamps, names["timestamp"])
    lengths = [len(u), len(i)] + [len(a) for a in (v, t) if a is not None]
    if len(set(lengths)) > 1:
        given = [names[n] for n, a in zip(FIELDS, (u, i, v, t), strict=True) if a is not None]
        raise DataError(
            f"{', '.join(given)} must have the same length, got {', '.join(map(str, lengths))}"
        )
    found: list[tuple[int, int, str]] = []  # (row, field order, reason)
    for order, problem in enumerate((_id_problem(u), _id_problem(i))):
        if problem is not None:
            found.append((problem[0], order, problem[1]))
    vals, problem = _values(v, len(u))
    if problem is not None:
        found.append((problem[0], 2, problem[1]))
    ts, problem = _timestamps(t)
    if problem is not None:
        found.append((problem[0], 3, problem[1]))
    if found:
        row, order, reason = min(found)
        raise DataError(reason, row=row, field=names[FIELDS[order]])
    return vals, ts


def check_event(user: Any, item: Any, value: Any = 1.0, *, value_field: str = "value") -> float:
    """The per-event form of `check_events` (``learn_one``): the value as a float.

    Pure Python, well under a microsecond, so a compiled per-event path can afford it. Raises
    `DataError` with ``row=0`` for a missing or infinite id or a missing or non-finite value.

    Examples
    --------
    >>> check_event("u1", 10, 4)
    4.0
    >>> check_event(None, 10, 4)
    Traceback (most recent call last):
    ...
    rectune.errors.DataError: row 0, field 'user_id': missing value (None)
    """
    for x, name in ((user, "user_id"), (item, "item_id")):
        if x is None or x is pd.NA or x is pd.NaT:
            raise DataError(f"missing value ({_show(x)})", row=0, field=name)
        if isinstance(x, float | np.floating) and not math.isfinite(x):
            reason = f"missing value ({_show(x)})" if x != x else f"not finite: {_show(x)}"
            raise DataError(reason, row=0, field=name)
    try:
        v = float(value)
    except (TypeError, ValueError):
        missing = value is None or value is pd.NA
        reason = f"missing value ({_show(value)})" if missing else f"not a number: {_show(value)}"
        raise DataError(reason, row=0, field=value_field) from None
    if not math.isfinite(v):
        raise DataError(f"not finite: {v!r}", row=0, field=value_field)
    return v


def _as_1d(raw: Any, name: str) -> np.ndarray:
    """A one-dimensional array of ``raw`` (a scalar becomes one row)."""
    if isinstance(raw, pd.Series | pd.Index):
        raw = raw.to_numpy()
    try:
        arr = np.asarray(raw)
        if arr.dtype.kind == "U" and not isinstance(raw, np.ndarray | str):
            # numpy would turn a NaN in a list of strings into the string "nan": keep objects.
            arr = np.asarray(raw, dtype=object)
    except ValueError as exc:  # ragged nested sequences
        raise DataError(f"cannot read as an array: {exc}", field=name) from None
    if arr.ndim == 0:
        return arr.reshape(1)
    if arr.ndim != 1:
        raise DataError(f"expected one value per event, got shape {arr.shape}", field=name)
    return arr


def _show(x: Any) -> str:
    """A readable repr of one element (numpy scalars as plain Python values)."""
    if isinstance(x, np.datetime64 | np.timedelta64):
        return str(x)
    if isinstance(x, np.generic):
        return repr(x.item())
    return repr(x)


def _is_missing(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):  # array-like elements
        return False


def _first(mask: np.ndarray) -> int | None:
    return int(np.argmax(mask)) if mask.any() else None


def _missing_or_nonfinite(x: Any) -> str:
    is_float_nan = isinstance(x, float | np.floating) and np.isnan(x)
    if _is_missing(x) and not is_float_nan:
        return f"missing value ({_show(x)})"
    return f"not finite: {_show(x)}"


def _id_problem(arr: np.ndarray) -> Problem | None:
    """First id that is missing (None, NaN, NaT, NA) or an infinite float."""
    kind = arr.dtype.kind
    if kind in "fc":
        bad = ~np.isfinite(arr)
    elif kind in "mM":
        bad = np.isnat(arr)
    elif kind == "O":
        if pd.api.types.infer_dtype(arr, skipna=False) in _NO_FLOATS:
            return None  # all strings or all integers: one C scan, the common case
        bad = np.asarray(pd.isna(arr), dtype=bool)
        if pd.api.types.infer_dtype(arr, skipna=True) not in _NO_FLOATS:
            bad = bad | _infinite_objects(arr, bad)
    else:  # integers, booleans, fixed-width strings
        return None
    row = _first(bad)
    if row is None:
        return None
    x = arr[row]
    return row, f"missing value ({_show(x)})" if _is_missing(x) else f"not finite: {_show(x)}"


def _infinite_objects(arr: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """Mask of +-inf among the elements of an object array (``skip`` rows are left False)."""
    out = np.zeros(len(arr), dtype=bool)
    rest = np.flatnonzero(~skip)
    sub = arr[rest]
    hit = np.asarray(sub == np.inf, dtype=bool) | np.asarray(sub == -np.inf, dtype=bool)
    out[rest] = hit
    return out


def _values(arr: np.ndarray | None, n: int) -> tuple[np.ndarray, Problem | None]:
    """Values as float64 and the first one that is missing, not a number or not finite."""
    if arr is None:
        return np.ones(n), None
    try:
        vals = np.ascontiguousarray(arr, dtype=np.float64)
    except (ValueError, TypeError):
        for row, x in enumerate(arr):
            if _is_missing(x):
                return np.empty(0), (row, f"missing value ({_show(x)})")
            try:
                float(x)
            except (ValueError, TypeError):
                return np.empty(0), (row, f"not a number: {_show(x)}")
        raise  # pragma: no cover - every element converts on its own
    row = _first(~np.isfinite(vals))
    if row is None:
        return vals, None
    return vals, (row, _missing_or_nonfinite(arr[row]))


def _timestamps(arr: np.ndarray | None) -> tuple[np.ndarray | None, Problem | None]:
    """Timestamps as int64 and the first one that is missing, non-finite or out of range."""
    if arr is None:
        return None, None
    kind = arr.dtype.kind
    bad: np.ndarray | None = None
    if kind == "f":
        bad = ~np.isfinite(arr) | (np.abs(np.nan_to_num(arr)) >= _INT64_LIMIT)
    elif kind in "mM":
        bad = np.isnat(arr)
    elif kind == "u" and len(arr) and int(arr.max()) >= _INT64_LIMIT:
        bad = arr >= np.uint64(_INT64_LIMIT)
    elif kind == "O":
        bad = np.asarray(pd.isna(arr), dtype=bool)
    if bad is not None:
        row = _first(bad)
        if row is not None:
            return None, (row, _timestamp_reason(arr[row]))
    try:
        return np.ascontiguousarray(arr, dtype=np.int64), None
    except (ValueError, TypeError, OverflowError):
        for row, x in enumerate(arr):
            try:
                np.asarray([x], dtype=np.int64)
            except (ValueError, TypeError, OverflowError):
                return None, (row, _timestamp_reason(x))
        raise  # pragma: no cover - every element converts on its own


def _timestamp_reason(x: Any) -> str:
    if isinstance(x, float | np.floating) and np.isfinite(x):
        return f"outside the int64 range: {_show(x)}"
    if isinstance(x, float | np.floating) or _is_missing(x):
        return _missing_or_nonfinite(x)
    if isinstance(x, int | np.integer):
        return f"outside the int64 range: {_show(x)}"
    return f"not a time in integer units: {_show(x)}"

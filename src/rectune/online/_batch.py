"""Events at the store's boundary: any accepted input as checked text-id columns.

`event_columns` turns a DataFrame, a dict of arrays, a list of dicts or an `Interactions` into
one `EventColumns`: ids as strings (non-empty, no control characters, at most `MAX_ID_LENGTH`
characters), finite float values and integer timestamps in seconds within `TIME_RANGE`. A bad
event raises `DataError` naming its 0-based position (``row``) and field before anything is
written. Events without an ``event_id`` (no column, or None in it) get one derived from their
content, so re-sending the same rows adds nothing; events without a timestamp (no column, or
None in it) are stamped with the arrival time, which their derived id leaves out.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from rectune.data import Interactions, check_events
from rectune.data.interactions import resolve_columns
from rectune.errors import DataError

MAX_ID_LENGTH = 256
#: Accepted timestamps: Unix seconds from 1970 to the end of year 9999 (milliseconds, about
#: 1.7e12 today, fall outside and are refused instead of being read as the year 55,000).
TIME_RANGE = (0, 253_402_300_799)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]{0,18})")
_INT64 = 2**63


@dataclass
class EventColumns:
    """A checked batch: text ids, float values, int timestamps, and whether ids were ints.

    Plain lists, since the store binds them row by row into SQL parameters.
    """

    event_ids: list[str]
    users: list[str]
    items: list[str]
    values: list[float]
    timestamps: list[int]
    user_int: bool
    item_int: bool

    def __len__(self) -> int:
        return len(self.event_ids)


def derive_event_id(user: str, item: str, value: float, timestamp: int | None) -> str:
    """A content hash of one event as given, used as its id when the input carries none.

    Without a timestamp in the input the hash leaves it out, so re-sending the same rows
    later (stamped with a later arrival time) is still recognised.
    """
    stamp = "" if timestamp is None else str(int(timestamp))
    key = f"{user}\x1f{item}\x1f{float(value)!r}\x1f{stamp}".encode()
    return "h" + hashlib.blake2b(key, digest_size=16).hexdigest()


def check_ids(raw: Any, field: str, *, row_offset: int = 0) -> tuple[list[str], bool]:
    """Ids as strings, and True if all were integers; refuses empty, control chars, too long.

    Integers outside the int64 range count as text ids: a store of integer ids reads them
    back as int64.
    """
    arr = raw if isinstance(raw, np.ndarray) else np.asarray(raw, dtype=object)
    if arr.dtype.kind in "iu":
        fits = arr.dtype.kind == "i" or not len(arr) or int(arr.max()) < _INT64
        return [str(x) for x in arr.tolist()], fits
    if arr.dtype.kind in "fcbmM":
        bad = 0 if len(arr) else None
        if arr.dtype.kind == "f" and len(arr):  # integral floats (a column with no NaN left)
            whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0**53)
            if whole.all():
                return [str(int(x)) for x in arr.tolist()], True
            bad = int(np.argmin(whole))
        if bad is not None:
            raise DataError(f"not an id: {arr[bad]!r}", row=bad + row_offset, field=field)
        return [], True
    values = arr.tolist()
    plain = _plain_ids(values) if values else None
    if plain is not None:  # all valid strings or all int64 integers: no per-id loop
        return plain
    out: list[str] = []
    all_int = True
    for pos, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, str | int):
            if isinstance(x, float) and x.is_integer():
                x = int(x)
            else:
                kind = type(x).__name__
                raise DataError(f"not an id ({kind}): {x!r}", row=pos + row_offset, field=field)
        if isinstance(x, int):
            out.append(str(x))
            all_int = all_int and -_INT64 <= x < _INT64
            continue
        all_int = False
        problem = _id_problem(x)
        if problem:
            raise DataError(problem, row=pos + row_offset, field=field)
        out.append(x)
    return out, all_int and bool(out)


def _id_problem(x: str) -> str | None:
    if not x:
        return "empty id"
    if len(x) > MAX_ID_LENGTH:
        return f"id longer than {MAX_ID_LENGTH} characters ({len(x)})"
    if _CONTROL.search(x):
        return f"control character in id: {x[:40]!r}"
    return None


def conform_ids(ids: list[str], as_int: bool, store_int: bool, field: str) -> None:
    """Refuse ids other than int64 integers in a store whose ids of this kind are integers."""
    if store_int and not as_int:
        for pos, x in enumerate(ids):
            if not _CANONICAL_INT.fullmatch(x) or not -_INT64 <= int(x) < _INT64:
                raise DataError(
                    f"the store holds integer {field}s; got {x!r}", row=pos, field=field
                )


def id_type(current: bool | None, ids: list[str], as_int: bool, field: str) -> bool:
    """The store's id type of a kind: fixed by its first batch, then enforced."""
    if current is None:
        return as_int
    conform_ids(ids, as_int, current, field)
    return current


def _plain_columns(events: Any, now: int | None) -> EventColumns | None:
    """`event_columns` of clean plain-Python input, or None to take the general path.

    Handles a non-empty list of dicts with the same ``str`` keys, or a dict of equally long
    lists, whose ids are all ``str`` (valid ids) or all ``int``, values ``float`` / ``int``
    (finite) and timestamps ``int`` within `TIME_RANGE`; the result equals the general
    path's for the same input. Anything else (None, NaN, numpy scalars, a bad id) gives None.
    """
    cols: Mapping[str, Sequence[Any]]
    if type(events) is list:
        if not events or set(map(type, events)) != {dict}:
            return None
        keys = tuple(events[0])
        if len(keys) < 2 or set(map(len, events)) != {len(keys)}:
            return None
        try:  # every row has exactly these keys, or the general path fills in None
            cols = dict(zip(keys, zip(*map(itemgetter(*keys), events), strict=True), strict=True))
        except KeyError:
            return None
    elif type(events) is dict:
        cols = events
        if not cols or set(map(type, cols.values())) != {list}:
            return None
        keys = tuple(cols)
        if len(set(map(len, cols.values()))) != 1:
            return None
    else:
        return None
    mapping = _plain_names(keys)
    if mapping is None:
        return None
    users = _plain_ids(cols[mapping["user_id"]])
    items = _plain_ids(cols[mapping["item_id"]])
    if users is None or items is None:
        return None
    n = len(users[0])
    vals = _plain_values(cols[mapping["rating"]]) if "rating" in mapping else [1.0] * n
    stamped = "timestamp" in mapping
    if stamped:
        ts = list(cols[mapping["timestamp"]])
    else:
        ts = [int(time.time()) if now is None else now]
    if vals is None or set(map(type, ts)) != {int} or min(ts) < TIME_RANGE[0]:
        return None
    if max(ts) > TIME_RANGE[1]:
        return None
    if not stamped:
        ts *= n
    if "event_id" in cols:
        given = _plain_ids(cols["event_id"])
        if given is None:
            return None
        event_ids = given[0]
    else:
        times = ts if stamped else [None] * n
        event_ids = list(map(derive_event_id, users[0], items[0], vals, times))
    return EventColumns(event_ids, users[0], items[0], vals, ts, users[1], items[1])


@lru_cache(maxsize=64)
def _plain_names(keys: tuple[str, ...]) -> dict[str, str] | None:
    """`resolve_columns` of a batch's keys, or None (the general path reports the error)."""
    if not all(type(k) is str for k in keys):
        return None
    try:
        return resolve_columns(list(keys))
    except DataError:
        return None


def _plain_ids(col: Sequence[Any]) -> tuple[list[str], bool] | None:
    """All-``str`` ids that pass `check_ids`, or all-``int`` ids as text; else None."""
    kinds = set(map(type, col))
    if kinds == {str}:
        if min(map(len, col)) == 0 or max(map(len, col)) > MAX_ID_LENGTH:
            return None
        if _CONTROL.search(" ".join(col)):
            return None
        return list(col), False
    if kinds == {int} and -_INT64 <= min(col) and max(col) < _INT64:
        return list(map(str, col)), True
    return None


def _plain_values(col: Sequence[Any]) -> list[float] | None:
    """Finite ``float`` / ``int`` values as floats; else None."""
    kinds = set(map(type, col))
    if not kinds or not kinds <= {float, int}:
        return None
    try:
        vals = list(map(float, col))
    except OverflowError:
        return None
    return vals if all(map(math.isfinite, vals)) else None


def event_columns(events: Any, *, now: int | None = None) -> EventColumns:
    """Check and convert one batch; raises `DataError` (row, field) for the first bad event.

    Plain Python input (a list of dicts or a dict of lists of str / int / float) goes through
    `_plain_columns`, which costs microseconds instead of the tens of microseconds of the
    array checks; anything it does not recognise as clean takes the general path below,
    which also reports the error of a bad event.
    """
    fast = _plain_columns(events, now)
    if fast is not None:
        return fast
    if isinstance(events, Interactions):
        cols: dict[str, Any] = {
            "user_id": events.user_ids,
            "item_id": events.item_ids,
            "value": events.values,
            "timestamp": events.timestamps,
        }
        if events.timestamps is None:
            del cols["timestamp"]
    else:
        cols = _columns(events)
    n = len(next(iter(cols.values()))) if cols else 0
    if n == 0:
        return EventColumns([], [], [], [], [], False, False)
    mapping = resolve_columns(list(cols))
    names = {"user_id": mapping["user_id"], "item_id": mapping["item_id"]}
    names["value"] = mapping.get("rating", "value")
    names["timestamp"] = mapping.get("timestamp", "timestamp")
    values = _array(cols[mapping["rating"]]) if "rating" in mapping else None
    stamps = _array(cols[mapping["timestamp"]]) if "timestamp" in mapping else None
    if stamps is not None and stamps.dtype.kind == "M":
        stamps = stamps.astype("datetime64[s]").astype(np.int64)
    arrival = int(time.time()) if now is None else now
    unstamped = np.zeros(n, dtype=bool)  # events whose timestamp is None: stamped on arrival
    if stamps is not None and stamps.dtype == object:
        unstamped = np.array([x is None for x in stamps.tolist()], dtype=bool)
        if unstamped.all():
            stamps = None
        elif unstamped.any():
            stamps = np.where(unstamped, arrival, stamps)
    uraw, iraw = _array(cols[names["user_id"]]), _array(cols[names["item_id"]])
    vals, ts = check_events(uraw, iraw, values, stamps, fields=names)
    if ts is None:
        unstamped[:] = True
        ts = np.full(n, arrival, dtype=np.int64)
    outside = (ts < TIME_RANGE[0]) | (ts > TIME_RANGE[1])
    if outside.any():
        pos = int(np.argmax(outside))
        raise DataError(
            f"timestamp {int(ts[pos])} outside {TIME_RANGE} (Unix seconds expected)",
            row=pos,
            field=names["timestamp"],
        )
    users, user_int = check_ids(uraw, names["user_id"])
    items, item_int = check_ids(iraw, names["item_id"])
    given = _array(cols["event_id"]).tolist() if "event_id" in cols else [None] * n
    if any(x is None for x in given):  # events without an id get their content hash
        times = [None if u else t for u, t in zip(unstamped.tolist(), ts.tolist(), strict=True)]
        given = [
            derive_event_id(u, i, v, t) if e is None else e
            for e, u, i, v, t in zip(given, users, items, vals.tolist(), times, strict=True)
        ]
    event_ids, _ = check_ids(np.asarray(given, dtype=object), "event_id")
    return EventColumns(event_ids, users, items, vals.tolist(), ts.tolist(), user_int, item_int)


def _array(col: Any) -> np.ndarray:
    if isinstance(col, np.ndarray):
        return col
    if isinstance(col, pd.Series):
        return col.to_numpy()
    arr = np.asarray(col)
    if arr.dtype.kind in "USO" or arr.ndim != 1:  # keep None / mixed ids as Python objects
        out = np.empty(len(col), dtype=object)
        out[:] = list(col)
        return out
    return arr


def _columns(events: Any) -> dict[str, Any]:
    """Columns by name from a DataFrame, a dict of columns, a list of dicts or an Arrow table."""
    if isinstance(events, pd.DataFrame):
        return {str(c): events[c].to_numpy() for c in events.columns}
    if isinstance(events, Mapping):
        cols = {str(k): _column(v) for k, v in events.items()}
        if len({len(v) for v in cols.values()}) > 1:
            raise DataError("the columns of a batch must have the same length")
        return cols
    if isinstance(events, Sequence) and not isinstance(events, str | bytes):
        if not all(isinstance(e, Mapping) for e in events):
            raise DataError("events must be a DataFrame, a dict of columns or a list of dicts")
        keys: dict[str, None] = {}
        for e in events:
            keys.update(dict.fromkeys(e))
        return {str(k): [e.get(k) for e in events] for k in keys}
    return {str(c): v.to_numpy() for c, v in _frame(events).items()}


def _frame(events: Any) -> pd.DataFrame:
    """Records as a DataFrame (item and user records; anything `_columns` does not read)."""
    if isinstance(events, pd.DataFrame):
        return events.reset_index(drop=True)
    if isinstance(events, Mapping):
        return pd.DataFrame({k: _column(v) for k, v in events.items()})
    if isinstance(events, Sequence) and not isinstance(events, str | bytes):
        if events and not all(isinstance(e, Mapping) for e in events):
            raise DataError("records must be a DataFrame, a dict of columns or a list of dicts")
        return pd.DataFrame.from_records(list(events))
    import pyarrow as pa

    if isinstance(events, pa.Table):
        return events.to_pandas()
    raise DataError(f"cannot read events from a {type(events).__name__}")


def _column(v: Any) -> Any:
    return v if isinstance(v, np.ndarray | pd.Series | list) else list(np.atleast_1d(v))


@dataclass
class RecordColumns:
    """Item or user records: ids, optional text, features as canonical JSON."""

    ids: list[str]
    texts: list[str | None]
    features: list[str | None]
    as_int: bool


def record_columns(records: Any, id_field: str, *, with_text: bool) -> RecordColumns:
    """Check item records (``item_id``, ``text``, ``features``) or user records."""
    import json
    import math

    frame = _frame(records)
    if len(frame) == 0:
        return RecordColumns([], [], [], False)
    if id_field not in frame.columns:
        raise DataError(f"no {id_field} column; columns are {list(frame.columns)}", field=id_field)
    ids, as_int = check_ids(frame[id_field].to_numpy(), id_field)
    texts: list[str | None] = [None] * len(ids)
    if with_text and "text" in frame.columns:
        for pos, t in enumerate(frame["text"].tolist()):
            if t is None or (isinstance(t, float) and math.isnan(t)):
                continue
            if not isinstance(t, str):
                raise DataError(f"text must be a string, got {t!r}", row=pos, field="text")
            texts[pos] = t
    feats: list[str | None] = [None] * len(ids)
    if "features" in frame.columns:
        for pos, f in enumerate(frame["features"].tolist()):
            if f is None or (isinstance(f, float) and math.isnan(f)):
                continue
            if not isinstance(f, Mapping):
                raise DataError(f"features must be a mapping, got {f!r}", row=pos, field="features")
            try:
                feats[pos] = json.dumps(dict(f), sort_keys=True, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise DataError(f"features not JSON: {exc}", row=pos, field="features") from None
    return RecordColumns(ids, texts, feats, as_int)

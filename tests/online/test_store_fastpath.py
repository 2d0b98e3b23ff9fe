"""Plain-Python batches (a list of dicts, a dict of lists) take a fast validation path in
`EventStore.append`; it must store and refuse exactly what the general path does.

A tuple of dicts and a read-only mapping of lists are read by the same general code as a list
and a dict, minus the fast path, so each generated batch is appended both ways to two fresh
SQLite stores and the outcomes (result, or error type and message) and stored rows compared.
The strategies mix clean values (the fast path) with every kind of bad or unusual one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rectune.online import EventStore

NOW = 1_700_000_000
CLEAN = {
    "id": st.one_of(st.sampled_from(["u1", "a", "item-7", "é", "7"]), st.integers(-5, 10**6)),
    "value": st.one_of(st.floats(-5, 5), st.integers(-5, 5)),
    "stamp": st.integers(0, 2_000_000_000),
}
ODD = {
    "id": st.sampled_from(
        [
            *("", " ", "a\x00", "\n", "ok\x1f", "x" * 256, "x" * 257, None, True, 1.0, 2.5),
            *(float("nan"), float("inf"), 2**63, -(2**63), -(2**63) - 1, 2**70),
            *(np.int64(3), np.str_("a"), b"a"),
        ]
    ),
    "value": st.sampled_from(
        [None, True, "4", float("nan"), float("-inf"), 2**70, 10**400, np.float32(2.5), 1e308]
    ),
    "stamp": st.sampled_from(
        [
            *(None, -1, 0, 253_402_300_799, 253_402_300_800, 2**63, True, "5", 1.5e9),
            *(1_700_000_000.5, 1_700_000_000_000, np.int64(5)),
        ]
    ),
}
KIND = {
    "event_id": "id",
    "user_id": "id",
    "userId": "id",
    "item_id": "id",
    "movieId": "id",
    "value": "value",
    "rating": "value",
    "score": "value",
    "timestamp": "stamp",
    "ts": "stamp",
    "note": "id",
}
KEYS = st.sampled_from(
    [
        ("event_id", "user_id", "item_id", "value", "timestamp"),
        ("user_id", "item_id", "value", "timestamp"),
        ("event_id", "userId", "movieId", "rating", "ts"),
        ("user_id", "item_id"),
        ("event_id", "user_id", "item_id", "score", "timestamp", "note"),
        ("event_id", "item_id", "value"),  # no user column
    ]
)


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Mostly clean batches; some with one odd value, a missing key or an extra one."""
    keys = draw(KEYS)
    n = draw(st.integers(1, 5))
    rows = []
    for _ in range(n):
        row = {k: draw(CLEAN[KIND[k]]) for k in keys}
        if "event_id" in row and draw(st.booleans()):
            row["event_id"] = draw(st.sampled_from([f"e{k}" for k in range(6)]))  # repeats
        rows.append(row)
    change = draw(st.sampled_from(["none", "odd", "odd", "odd", "missing", "extra", "swap"]))
    row, key = rows[draw(st.integers(0, n - 1))], draw(st.sampled_from(keys))
    if change == "odd":
        row[key] = draw(ODD[KIND[key]])
    if change in ("missing", "swap"):
        del row[key]
    if change in ("extra", "swap"):
        row["extra"] = 1
    return rows


def _outcome(url: str, first: Any, second: Any) -> list[Any]:
    """Results (or error type and message) of two appends, then the stored events."""
    out: list[Any] = []
    with EventStore(url) as store:
        for batch in (first, second):
            try:
                out.append(store.append(batch, now=NOW))
            except Exception as exc:
                out.append((type(exc).__name__, str(exc)))
        frame = store.read(0).to_frame()
        out.append(frame.to_dict("list"))
        out.append([str(frame[c].dtype) for c in frame.columns])
    return out


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = dict.fromkeys(k for r in rows for k in r)
    return {k: [r.get(k) for r in rows] for k in keys}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(first=batches(), second=batches(), as_columns=st.booleans())
def test_fast_path_equals_general_path(first, second, as_columns: bool) -> None:
    if as_columns:
        fast: tuple[Any, Any] = (_columns(first), _columns(second))
        general: tuple[Any, Any] = (MappingProxyType(fast[0]), MappingProxyType(fast[1]))
    else:
        fast, general = (first, second), (tuple(first), tuple(second))
    with tempfile.TemporaryDirectory() as tmp:
        a = _outcome(f"sqlite:///{Path(tmp) / 'fast.db'}", *fast)
        b = _outcome(f"sqlite:///{Path(tmp) / 'general.db'}", *general)
    assert a == b


def test_clean_batches_round_trip_through_the_fast_path(tmp_path: Path) -> None:
    """The usual shapes (a list of dicts, a dict of lists) store what was sent."""
    rows = [
        {"event_id": f"e{k}", "user_id": f"u{k % 3}", "item_id": k, "value": k / 2, "timestamp": k}
        for k in range(50)
    ]
    rows[7]["user_id"] = "u" * 256  # the longest id allowed
    with EventStore(f"sqlite:///{tmp_path / 'e.db'}") as store:
        assert store.append(rows) == {"accepted": 50, "duplicates": 0, "last_seq": 50}
        cols = _columns(rows)
        cols["event_id"] = [f"f{k}" for k in range(50)]
        assert store.append(cols)["accepted"] == 50
        got = store.read(0)
    assert got.event_id.tolist() == [f"e{k}" for k in range(50)] + cols["event_id"]
    assert got.user_id[7] == got.user_id[57] == "u" * 256
    assert got.item_id.tolist() == list(range(50)) * 2
    assert got.value.tolist() == [k / 2 for k in range(50)] * 2
    assert got.timestamp.tolist() == list(range(50)) * 2


def test_batches_are_split_under_an_old_sqlite_parameter_limit(tmp_path: Path) -> None:
    """SQLite before 3.32 binds at most 999 parameters: inserts and lookups go in chunks."""
    rows = [
        {"event_id": f"e{k}", "user_id": "u", "item_id": k, "timestamp": NOW} for k in range(2000)
    ]
    with EventStore(f"sqlite:///{tmp_path / 'e.db'}") as store:
        store._db.max_params = 999
        assert store.append(rows[:700]) == {"accepted": 700, "duplicates": 0, "last_seq": 700}
        assert store.append(rows) == {"accepted": 1300, "duplicates": 700, "last_seq": 2000}
        got = store.read(0)
    assert got.event_id.tolist() == [r["event_id"] for r in rows]
    assert got.seq.tolist() == list(range(1, 2001))

"""Non-finite values and missing ids are refused at the boundary, naming the row and field."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rectune
from rectune.data import Interactions, check_event, check_events, check_interactions
from rectune.errors import DataError

USERS = [1, 1, 2, 2, 3, 3]
ITEMS = ["a", "b", "a", "b", "a", "b"]
RATINGS = [5.0, 1.0, 4.0, 2.0, 5.0, 1.0]


def _with(seq: list, row: int, bad: object) -> list:
    out = list(seq)
    out[row] = bad
    return out


# ---------------------------------------------------------------------------------- from_raw
@pytest.mark.parametrize(
    ("users", "items", "values", "timestamps", "row", "field", "fragment"),
    [
        (USERS, ITEMS, _with(RATINGS, 3, math.nan), None, 3, "rating", "not finite: nan"),
        (USERS, ITEMS, _with(RATINGS, 2, math.inf), None, 2, "rating", "not finite: inf"),
        (USERS, ITEMS, _with(RATINGS, 5, -math.inf), None, 5, "rating", "not finite: -inf"),
        (USERS, ITEMS, _with(RATINGS, 1, None), None, 1, "rating", "missing value"),
        (USERS, ITEMS, _with(RATINGS, 1, "five"), None, 1, "rating", "not a number: 'five'"),
        (_with(USERS, 4, None), ITEMS, RATINGS, None, 4, "user_id", "missing value (None)"),
        (_with(USERS, 0, math.nan), ITEMS, RATINGS, None, 0, "user_id", "missing value (nan)"),
        (USERS, _with(ITEMS, 2, None), RATINGS, None, 2, "item_id", "missing value (None)"),
        (USERS, _with(ITEMS, 2, math.nan), RATINGS, None, 2, "item_id", "missing value (nan)"),
        (USERS, _with(ITEMS, 1, math.inf), RATINGS, None, 1, "item_id", "not finite: inf"),
        (USERS, _with(ITEMS, 3, pd.NA), RATINGS, None, 3, "item_id", "missing value (<NA>)"),
        (USERS, ITEMS, RATINGS, _with(list(range(6)), 2, math.nan), 2, "timestamp", "nan"),
        (USERS, ITEMS, RATINGS, _with(list(range(6)), 4, math.inf), 4, "timestamp", "inf"),
        (USERS, ITEMS, RATINGS, _with(list(range(6)), 1, None), 1, "timestamp", "missing"),
        (USERS, ITEMS, RATINGS, _with(list(range(6)), 1, 1e300), 1, "timestamp", "int64 range"),
    ],
)
def test_from_raw_refuses_bad_rows(
    users: list,
    items: list,
    values: list,
    timestamps: list | None,
    row: int,
    field: str,
    fragment: str,
) -> None:
    with pytest.raises(DataError) as err:
        Interactions.from_raw(users, items, values, timestamps)
    e = err.value
    assert (e.row, e.field) == (row, field)
    assert fragment in str(e) and f"row {row}" in str(e) and "\n" not in str(e)


def test_numpy_and_pandas_inputs() -> None:
    with pytest.raises(DataError, match="row 1, field 'item_id'"):
        Interactions.from_raw(np.array([1, 2]), np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(DataError, match="row 1, field 'weight'"):
        Interactions.from_raw([1, 2], [3, 4], pd.array([1.0, None], dtype="Float64"), kind="weight")
    nat = np.array(["2020-01-01", "NaT"], dtype="datetime64[s]")
    with pytest.raises(DataError, match="row 1, field 'timestamp': missing value \\(NaT\\)"):
        Interactions.from_raw([1, 2], [3, 4], [1, 2], nat)
    ok = Interactions.from_raw(["u", "v"], pd.Series([3, 4]), None, nat[:1].repeat(2))
    assert ok.values.tolist() == [1.0, 1.0] and ok.timestamps.tolist() == [1577836800] * 2


def test_earliest_bad_row_is_reported() -> None:
    with pytest.raises(DataError) as err:
        Interactions.from_raw(
            _with(USERS, 4, None), ITEMS, _with(RATINGS, 2, math.nan), [0, 1, 2, 3, math.inf, 5]
        )
    assert (err.value.row, err.value.field) == (2, "rating")


def test_from_frame_names_its_own_columns() -> None:
    frame = pd.DataFrame({"userId": [1, None], "movieId": [3, 4], "rating": [1.0, 2.0]})
    with pytest.raises(DataError) as err:
        Interactions.from_frame(frame)
    assert (err.value.row, err.value.field) == (1, "userId")
    frame = pd.DataFrame({"user": ["a", "b"], "item": [3, 4], "count": [1.0, math.inf]})
    with pytest.raises(DataError, match="row 1, field 'count': not finite: inf"):
        Interactions.from_frame(frame)
    frame = pd.DataFrame({"user": ["a", "b"], "item": [3, 4], "time": ["2020-01-01", None]})
    with pytest.raises(DataError, match="row 1, field 'time': missing value"):
        Interactions.from_frame(frame)
    frame["time"] = ["2020-01-01", "someday"]
    with pytest.raises(DataError, match="row 1, field 'time': not a time: 'someday'"):
        Interactions.from_frame(frame)


def test_from_frame_dates_are_unix_seconds() -> None:
    # pandas 3 parses dates at microsecond resolution: the old `// 10**9` gave 1577836.
    frame = {"user": ["a", "b"], "item": [3, 4], "time": ["2020-01-01", "2020-01-02T00:00:01Z"]}
    assert Interactions.from_frame(frame).timestamps.tolist() == [1577836800, 1577923201]


def test_check_events_is_public_and_converts() -> None:
    values, ts = check_events([1, 2], ["a", "b"], [5, "3.5"], [10.0, 11.0])
    assert values.dtype == np.float64 and values.tolist() == [5.0, 3.5]
    assert ts.dtype == np.int64 and ts.tolist() == [10, 11]
    with pytest.raises(DataError, match="row 0, field 'value'"):
        check_events("u", "i", math.nan)  # a single event, as learn_one passes it
    with pytest.raises(DataError, match="same length"):
        check_events([1, 2], [1], [1.0, 2.0])


def test_check_interactions_catches_direct_construction() -> None:
    data = Interactions.from_raw(USERS, ITEMS, RATINGS)
    check_interactions(data)
    data.values[4] = math.nan
    with pytest.raises(DataError, match="row 4, field 'rating': not finite: nan"):
        check_interactions(data)


# ---------------------------------------------------------------------------------- models
def test_nmf_fit_raises_data_error_not_zero_division() -> None:
    # Before the check, the NaN reached NMF's multiplicative updates: ZeroDivisionError.
    with pytest.raises(DataError, match="row 1, field 'rating'"):
        rectune.create_model("nmf").fit(
            Interactions.from_raw(USERS, ITEMS, _with(RATINGS, 1, math.nan))
        )


@pytest.mark.parametrize("name", ["nmf", "baseline"])
def test_bad_event_leaves_the_model_unchanged(name: str) -> None:
    model = rectune.create_model(name).fit(Interactions.from_raw(USERS, ITEMS, RATINGS))
    before = model.predict([1, 2, 3], ["a", "b", "a"]).copy()
    with pytest.raises(DataError, match="row 1, field 'rating'"):
        model.partial_fit(Interactions.from_raw([4, 1], ["a", "a"], [3.0, math.nan]))
    with pytest.raises(DataError, match="field 'user_id'"):
        model.partial_fit(Interactions.from_raw([None], ["a"], [3.0]))
    with pytest.raises(DataError, match="field 'rating'"):
        model.learn_one(1, "a", math.inf)
    after = model.predict([1, 2, 3], ["a", "b", "a"])
    assert np.array_equal(before, after) and np.isfinite(after).all()
    assert 4 not in model.user_map_


# ---------------------------------------------------------------------------------- properties
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
IDS = st.one_of(st.integers(-(2**40), 2**40), st.text(min_size=1, max_size=5))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(IDS, IDS, FINITE, st.integers(-(2**62), 2**62)), min_size=1))
def test_finite_events_are_accepted(rows: list[tuple]) -> None:
    users, items, values, times = (list(c) for c in zip(*rows, strict=True))
    data = Interactions.from_raw(users, items, values, times)
    assert len(data) == len(rows)
    assert data.values.tolist() == [float(v) for v in values]
    assert data.timestamps.tolist() == times


@settings(max_examples=80, deadline=None)
@given(
    st.lists(FINITE, min_size=1, max_size=30),
    st.data(),
    st.sampled_from(["value", "user_id", "item_id", "timestamp"]),
)
def test_any_non_finite_is_refused_at_its_first_row(
    values: list[float], data: st.DataObject, field: str
) -> None:
    n = len(values)
    bad_rows = data.draw(st.sets(st.integers(0, n - 1), min_size=1))
    columns = {
        "user_id": [float(k) for k in range(n)],
        "item_id": [f"i{k % 3}" for k in range(n)],
        "value": list(values),
        "timestamp": [float(k) for k in range(n)],
    }
    for r in bad_rows:
        bad = data.draw(NON_FINITE if field != "item_id" else st.sampled_from([math.nan, None]))
        columns[field][r] = bad
    with pytest.raises(DataError) as err:
        check_events(columns["user_id"], columns["item_id"], columns["value"], columns["timestamp"])
    assert (err.value.row, err.value.field) == (min(bad_rows), field)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(FINITE.map(lambda x: round(x, 3)), NON_FINITE), min_size=1, max_size=40))
def test_loader_skips_exactly_the_non_finite_ratings(ratings: list[float]) -> None:
    import tempfile
    from pathlib import Path

    from rectune.data import load

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "r.csv"
        rows = [f"{k},{k % 7},{r!r}" for k, r in enumerate(ratings)]
        f.write_text("user,item,rating\n" + "\n".join(rows) + "\n")
        bad = [k for k, r in enumerate(ratings) if not math.isfinite(r)]
        if bad:
            with pytest.raises(DataError) as err:
                load(f)
            assert (err.value.line, err.value.field) == (bad[0] + 2, "rating")
        if len(bad) == len(ratings):
            return  # nothing left to load
        data = load(f, skip_bad_rows=True)
        assert data.meta["bad_rows"] == len(bad)
        assert data.values.tolist() == [r for r in ratings if math.isfinite(r)]


SCALARS = st.one_of(
    IDS,
    FINITE,
    NON_FINITE,
    st.sampled_from([None, pd.NA, "4.5", "x", np.float32("nan"), np.int64(3)]),
)


@settings(max_examples=150, deadline=None)
@given(SCALARS, SCALARS, SCALARS)
def test_check_event_agrees_with_check_events(user: object, item: object, value: object) -> None:
    """The fast per-event check refuses exactly what the array check refuses, same field."""
    try:
        expected: object = float(check_events([user], [item], [value])[0][0])
    except DataError as exc:
        expected = (exc.row, exc.field)
    try:
        got: object = check_event(user, item, value)
    except DataError as exc:
        got = (exc.row, exc.field)
    assert got == expected

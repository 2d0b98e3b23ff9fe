"""Splitters: no leakage, exact partitions, temporal order, cold-start guarantees."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, DataError
from rectune.evaluation.splits import (
    SPLITTERS,
    cold_item_rows,
    cold_item_split,
    cold_user_rows,
    cold_user_split,
    kfold_rows,
    kfold_split,
    leave_last_rows,
    random_rows,
    random_split,
    split,
    split_options,
    split_rows,
    temporal_rows,
    temporal_split,
    user_temporal_rows,
    user_temporal_split,
)

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def interactions(draw: st.DrawFn, *, timestamps: bool = True, min_size: int = 1) -> Interactions:
    n = draw(st.integers(min_size, 120))
    n_users = draw(st.integers(1, 12))
    n_items = draw(st.integers(1, 15))
    users = draw(st.lists(st.integers(0, n_users - 1), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, n_items - 1), min_size=n, max_size=n))
    ts = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)) if timestamps else None
    values = np.arange(n, dtype=np.float64)  # value = original row, to trace rows through splits
    return Interactions.from_raw(users, items, values, ts)


def assert_partition(n: int, train_rows: np.ndarray, test_rows: np.ndarray) -> None:
    assert np.intersect1d(train_rows, test_rows).size == 0
    assert np.array_equal(np.sort(np.concatenate([train_rows, test_rows])), np.arange(n))


def rows_of(part: Interactions) -> np.ndarray:
    return part.values.astype(np.int64)


# ---------------------------------------------------------------------------- properties
@SETTINGS
@given(interactions(), st.floats(0.05, 0.95), st.integers(0, 1000))
def test_random_partitions(data: Interactions, test_size: float, seed: int) -> None:
    tr, te = random_rows(data, test_size, seed=seed)
    assert_partition(len(data), tr, te)
    assert len(te) == math.ceil(test_size * len(data))
    _tr2, te2 = random_rows(data, test_size, seed=seed)
    assert np.array_equal(te, te2)


@SETTINGS
@given(interactions(min_size=2), st.integers(2, 7), st.integers(0, 1000))
def test_kfold_partitions(data: Interactions, folds: int, seed: int) -> None:
    folds = min(folds, len(data))
    parts = list(kfold_rows(data, folds, seed=seed))
    assert len(parts) == folds
    tests = [te for _, te in parts]
    for tr, te in parts:
        assert_partition(len(data), tr, te)
    # Every row is in exactly one test fold; fold sizes differ by at most one.
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(len(data)))
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1


@SETTINGS
@given(interactions(), st.floats(0.05, 0.95))
def test_temporal_no_future_in_train(data: Interactions, test_size: float) -> None:
    tr, te = temporal_rows(data, test_size)
    assert_partition(len(data), tr, te)
    assert len(te) == math.ceil(test_size * len(data))
    assert data.timestamps is not None
    if len(tr) and len(te):
        assert data.timestamps[tr].max() <= data.timestamps[te].min()


@SETTINGS
@given(interactions(), st.floats(0.05, 0.95), st.one_of(st.none(), st.integers(1, 4)))
def test_user_temporal_per_user_order(data: Interactions, test_size: float, n: int | None) -> None:
    tr, te = user_temporal_rows(data, test_size, n=n)
    assert_partition(len(data), tr, te)
    assert data.timestamps is not None
    ts, users = data.timestamps, data.users
    counts = np.bincount(users, minlength=data.n_users)
    test_counts = np.bincount(users[te], minlength=data.n_users)
    for u in np.unique(users):
        u_tr, u_te = tr[users[tr] == u], te[users[te] == u]
        assert len(u_tr) >= 1  # every user keeps a training row
        if len(u_te):
            assert ts[u_tr].max() <= ts[u_te].min()
        if n is not None:
            assert test_counts[u] == min(n, counts[u] - 1)
        else:
            assert test_counts[u] == min(math.floor(test_size * counts[u] + 0.5), counts[u] - 1)


@SETTINGS
@given(
    interactions(), st.floats(0.05, 0.95), st.integers(0, 3), st.integers(0, 1000), st.booleans()
)
def test_cold_users_only_support_in_train(
    data: Interactions, test_size: float, n_support: int, seed: int, drop_time: bool
) -> None:
    if drop_time:
        data.timestamps = None
    tr, te = cold_user_rows(data, test_size, n_support=n_support, seed=seed)
    assert_partition(len(data), tr, te)
    counts = np.bincount(data.users, minlength=data.n_users)
    test_users = np.unique(data.users[te])
    eligible = np.flatnonzero(counts > n_support)
    assert len(test_users) == math.ceil(test_size * len(eligible))
    train_counts = np.bincount(data.users[tr], minlength=data.n_users)
    assert np.all(train_counts[test_users] == n_support)
    if data.timestamps is not None:
        for u in test_users:
            sup, held = tr[data.users[tr] == u], te[data.users[te] == u]
            if len(sup):
                assert data.timestamps[sup].max() <= data.timestamps[held].min()


@SETTINGS
@given(interactions(), st.floats(0.05, 0.95), st.integers(0, 1000))
def test_cold_items_never_in_train(data: Interactions, test_size: float, seed: int) -> None:
    tr, te = cold_item_rows(data, test_size, seed=seed)
    assert_partition(len(data), tr, te)
    test_items = np.unique(data.items[te])
    assert np.intersect1d(test_items, data.items[tr]).size == 0
    n_present = np.unique(data.items).size
    assert len(test_items) == math.ceil(test_size * n_present)


@SETTINGS
@given(interactions(min_size=2), st.sampled_from(sorted(SPLITTERS)), st.integers(0, 50))
def test_dispatcher_pairs_share_maps_and_cover(data: Interactions, method: str, seed: int) -> None:
    opts = {"folds": 2} if method == "kfold" else {}
    pairs = list(split(data, method, seed=seed, **opts))
    assert len(pairs) == (2 if method == "kfold" else 1)
    for train, test in pairs:
        assert train.user_map is data.user_map and test.item_map is data.item_map
        assert_partition(len(data), rows_of(train), rows_of(test))


# ---------------------------------------------------------------------------- examples
@pytest.fixture
def small() -> Interactions:
    users = [1, 1, 1, 1, 2, 2, 2, 3]
    items = list("abcdabce")
    return Interactions.from_raw(users, items, np.arange(8.0), timestamps=[4, 3, 2, 1, 1, 2, 3, 1])


def test_leave_last_by_hand(small: Interactions) -> None:
    _tr, te = leave_last_rows(small, 1)
    assert te.tolist() == [0, 6]  # user 1's latest is row 0, user 2's is row 6, user 3 untouched
    _, te2 = leave_last_rows(small, 2)
    assert te2.tolist() == [0, 1, 5, 6]


def test_wrappers_return_pairs(small: Interactions) -> None:
    for train, test in [
        random_split(small, 0.25, seed=1),
        temporal_split(small, 0.25),
        user_temporal_split(small, 0.5),
        cold_user_split(small, 0.5, n_support=1, seed=0),
        cold_item_split(small, 0.2, seed=0),
    ]:
        assert len(train) + len(test) == len(small)
        assert train.user_map is small.user_map
    assert len(list(kfold_split(small, 4, seed=0))) == 4


def test_cold_users_support_is_earliest(small: Interactions) -> None:
    train, test = cold_user_split(small, 0.5, n_support=1, seed=3)
    for u in np.unique(test.users):
        assert train.timestamps is not None and test.timestamps is not None
        assert train.timestamps[train.users == u].max() <= test.timestamps[test.users == u].min()


def test_seeds_change_random_splits(small: Interactions) -> None:
    a = [random_rows(small, 0.5, seed=s)[1].tolist() for s in range(6)]
    assert len({tuple(x) for x in a}) > 1


def test_errors(small: Interactions) -> None:
    no_time = Interactions.from_raw([1, 2], ["a", "b"], [1.0, 2.0])
    with pytest.raises(ConfigError, match=r"unknown split method 'nope'.*kfold"):
        list(split(small, "nope"))
    with pytest.raises(ConfigError, match="takes options"):
        list(split(small, "temporal", folds=3))
    with pytest.raises(DataError, match="timestamps"):
        list(split(no_time, "temporal"))
    with pytest.raises(DataError, match="timestamps"):
        list(split(no_time, "leave-last"))
    with pytest.raises(ConfigError, match="test_size"):
        random_rows(small, 1.5)
    with pytest.raises(ConfigError, match="folds"):
        list(kfold_rows(small, 1))
    with pytest.raises(ConfigError, match="cannot make"):
        list(kfold_rows(small, 9))
    with pytest.raises(ConfigError, match="n_support"):
        cold_user_rows(small, n_support=-1)
    with pytest.raises(ConfigError, match="n "):
        leave_last_rows(small, 0)


def test_split_options_lists_defaults() -> None:
    assert split_options("kfold") == {"folds": 5, "seed": 0}
    assert split_options("cold-users") == {"test_size": 0.2, "n_support": 0, "seed": 0}
    assert split_options("leave-last") == {"n": 1, "seed": 0}
    assert list(split_rows(Interactions.from_raw([1, 2], ["a", "b"]), "random", test_size=0.5))

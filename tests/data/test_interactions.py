"""Interactions: construction, views, conversions and fingerprints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from rectune.data.interactions import Interactions, resolve_columns
from rectune.errors import DataError


@pytest.fixture
def small() -> Interactions:
    return Interactions.from_raw(
        ["u1", "u1", "u2", "u3"], [10, 20, 10, 30], [5, 3, 4, 1], [4, 3, 2, 1]
    )


def test_from_raw_maps_sorted(small: Interactions) -> None:
    assert (len(small), small.n_users, small.n_items) == (4, 3, 3)
    assert small.user_map.ids.tolist() == ["u1", "u2", "u3"]
    assert small.item_ids.tolist() == [10, 20, 10, 30]
    assert small.users.dtype == np.int32 and small.timestamps.dtype == np.int64


def test_lengths_must_match() -> None:
    with pytest.raises(DataError, match="same length"):
        Interactions.from_raw([1, 2], [1], [1.0, 2.0])


def test_subset_shares_maps(small: Interactions) -> None:
    sub = small.subset(small.values >= 4)
    assert len(sub) == 2 and sub.user_map is small.user_map
    assert sub.timestamps.tolist() == [4, 2]


def test_concat_grows_maps(small: Interactions) -> None:
    other = Interactions.from_raw(["u9"], [99], [2.0], [7])
    both = small.concat(other)
    assert len(both) == 5 and both.n_users == 4 and both.n_items == 4
    assert both.user_ids[-1] == "u9" and small.n_users == 3


def test_csr_and_frame(small: Interactions) -> None:
    m = small.to_csr()
    assert m.shape == (3, 3) and m[0, 0] == 5
    assert small.to_csr(binary=True).sum() == 4
    frame = small.to_frame()
    assert list(frame.columns) == ["user_id", "item_id", "rating", "timestamp"]


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"userId": [1, 2], "movieId": [3, 4], "rating": [1.0, 2.0]}),
        pa.table({"userId": [1, 2], "movieId": [3, 4], "rating": [1.0, 2.0]}),
        {"userId": [1, 2], "movieId": [3, 4], "rating": [1.0, 2.0]},
    ],
)
def test_from_frame_aliases(frame: object) -> None:
    data = Interactions.from_frame(frame)
    assert data.meta["column_mapping"] == {
        "user_id": "userId",
        "item_id": "movieId",
        "rating": "rating",
    }
    assert data.kind == "rating" and len(data) == 2


def test_from_frame_weight_is_implicit() -> None:
    data = Interactions.from_frame({"user": ["a"], "item": ["b"], "weight": [3]})
    assert data.kind == "weight" and data.is_implicit


def test_resolve_columns_missing_names_field() -> None:
    with pytest.raises(DataError) as err:
        resolve_columns(["a", "item"])
    assert err.value.field == "user_id"
    with pytest.raises(DataError, match="'nope'"):
        resolve_columns(["user", "item"], {"rating": "nope"})


def test_fingerprint_and_stats(small: Interactions) -> None:
    same = Interactions.from_raw(
        ["u1", "u1", "u2", "u3"], [10, 20, 10, 30], [5, 3, 4, 1], [4, 3, 2, 1]
    )
    assert small.fingerprint() == same.fingerprint()
    changed = small.subset(np.arange(3))
    assert changed.fingerprint() != small.fingerprint()
    stats = small.stats()
    assert stats["interactions"] == 4 and stats["value_max"] == 5.0


def test_binarize(small: Interactions) -> None:
    b = small.binarize(4)
    assert len(b) == 2 and b.kind == "weight" and set(b.values.tolist()) == {1.0}

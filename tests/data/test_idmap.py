"""IdMap: round trips, growth that never moves old indices, unknown ids (hypothesis properties)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rectune.data.idmap import IdMap
from rectune.errors import UnknownIdError

int_ids = st.lists(st.integers(-(2**40), 2**40), unique=True, max_size=50)
str_ids = st.lists(st.text(min_size=1, max_size=8), unique=True, max_size=50)
any_ids = st.one_of(int_ids, str_ids)


@given(any_ids)
def test_round_trip(ids: list) -> None:
    m = IdMap(ids)
    assert len(m) == len(ids)
    idx = m.index_of(ids)
    assert idx.tolist() == list(range(len(ids)))
    assert m.ids[idx].tolist() == ids


@given(any_ids)
def test_json_round_trip(ids: list) -> None:
    m = IdMap(ids)
    assert IdMap.from_json(m.to_json()) == m


@given(int_ids, int_ids)
def test_growth_keeps_old_indices(first: list, more: list) -> None:
    m = IdMap(first)
    before = m.index_of(first)
    added = m.add(more)
    assert m.index_of(first).tolist() == before.tolist()
    assert m.ids[added].tolist() == more
    assert len(m) == len(set(first) | set(more))


@given(str_ids, str_ids)
def test_growth_appends_new_ids_in_first_seen_order(first: list, more: list) -> None:
    m = IdMap(first)
    m.add(more + more)
    fresh = [x for x in more if x not in set(first)]
    assert m.ids[len(first) :].tolist() == fresh


@given(int_ids, st.integers(-(2**63), 2**63 - 1))
def test_unknown_is_minus_one(ids: list, probe: int) -> None:
    m = IdMap(ids)
    expected = ids.index(probe) if probe in ids else -1
    assert m.index_of([probe]).tolist() == [expected]
    assert m.index_of([probe], missing=-7).tolist() == [expected if expected >= 0 else -7]


def test_strings_never_match_int_ids() -> None:
    m = IdMap([1, 2])
    assert m.index_of(["1"]).tolist() == [-1]


@given(st.lists(st.integers(0, 20), max_size=60))
def test_factorize_is_sorted_and_consistent(raw: list) -> None:
    m, codes = IdMap.factorize(raw)
    assert m.ids.tolist() == sorted(set(raw))
    assert m.ids[codes].tolist() == raw


def test_duplicate_ids_rejected_and_strict_lookup() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        IdMap(["a", "a"])
    with pytest.raises(UnknownIdError, match="unknown user 'z'"):
        IdMap(["a"]).index_strict(["a", "z"], what="user")


def test_copy_is_independent() -> None:
    m = IdMap(np.arange(3))
    c = m.copy()
    c.add([10])
    assert len(m) == 3 and len(c) == 4


def test_mixed_query_still_finds_the_integers() -> None:
    # Regression: a list mixing ints and strings was turned into all strings, losing the ints.
    m = IdMap([3, 5])
    assert m.index_of([3, "nobody", 5]).tolist() == [0, -1, 1]


@given(
    any_ids,
    st.lists(st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=8)), max_size=20),
    st.sampled_from([-1, -7]),
)
def test_small_queries_agree_with_the_vectorised_lookup(
    ids: list, query: list, missing: int
) -> None:
    """Queries of at most SMALL_QUERY ids take one hash probe each (the fast path of a one-user
    request); longer ones pandas' get_indexer. Both give the same indices, element by
    element."""
    from rectune.data.idmap import SMALL_QUERY

    m = IdMap(ids)
    repeated = query * (SMALL_QUERY + 1)  # long enough for the vectorised lookup
    whole = m.index_of(repeated, missing=missing)[: len(query)] if query else []
    one_by_one = [m.index_of(query[k : k + 1], missing=missing)[0] for k in range(len(query))]
    assert list(whole) == one_by_one
    small = m.index_of(query[:SMALL_QUERY], missing=missing)
    assert small.dtype == np.int64 and list(small) == one_by_one[:SMALL_QUERY]

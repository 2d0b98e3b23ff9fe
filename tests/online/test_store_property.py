"""Property: any sequence of append batches leaves the store equal to a dict model."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rectune.errors import DataError
from rectune.online import EventStore

GOOD = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from([f"e{k}" for k in range(12)]),
        "user_id": st.sampled_from(["u1", "u2", "u3"]),
        "item_id": st.sampled_from(["a", "b"]),
        "value": st.floats(-5, 5, allow_nan=False),
        "timestamp": st.integers(0, 2_000_000_000),
    }
)
BAD = st.one_of(
    GOOD.map(lambda e: {**e, "value": float("nan")}),
    GOOD.map(lambda e: {**e, "user_id": ""}),
    GOOD.map(lambda e: {**e, "item_id": "x\x00"}),
    GOOD.map(lambda e: {**e, "timestamp": -1}),
)
BATCH = st.lists(st.one_of(GOOD, GOOD, GOOD, BAD), min_size=1, max_size=6)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(BATCH, min_size=1, max_size=6))
def test_store_equals_first_seen_model(new_store_url: Callable[[], str], batches) -> None:
    model: dict[str, tuple] = {}
    with EventStore(new_store_url()) as store:
        for batch in batches:
            bad = any(
                e["value"] != e["value"]
                or e["user_id"] == ""
                or "\x00" in e["item_id"]
                or e["timestamp"] < 0
                for e in batch
            )
            before = dict(model)
            try:
                res = store.append(batch)
            except DataError:
                assert bad
                assert model == before
                continue
            assert not bad
            new = 0
            for e in batch:
                if e["event_id"] not in model:
                    model[e["event_id"]] = (e["user_id"], e["item_id"], e["value"], e["timestamp"])
                    new += 1
            assert res["accepted"] == new and res["duplicates"] == len(batch) - new
        got = store.read(0)
        assert list(got.event_id) == list(model)
        rows = list(
            zip(got.user_id, got.item_id, got.value.tolist(), got.timestamp.tolist(), strict=True)
        )
        assert rows == list(model.values())
        assert got.seq.tolist() == list(range(1, len(model) + 1))
        assert store.count()["events"] == len(model)

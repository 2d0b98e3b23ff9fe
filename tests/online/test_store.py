"""EventStore on both backends: idempotent appends, validation, reading, records, export."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rectune.errors import ConfigError, DataError
from rectune.online import EventStore, parse_url


def ev(
    eid: str | None,
    user: object = "u1",
    item: object = "a",
    value: float = 4.0,
    ts: int = 1_700_000_000,
) -> dict:
    row = {"user_id": user, "item_id": item, "value": value, "timestamp": ts}
    if eid is not None:
        row["event_id"] = eid
    return row


def test_append_is_idempotent_on_event_id(store_url: str) -> None:
    with EventStore(store_url) as store:
        first = store.append([ev("e1"), ev("e2", item="b"), ev("e1")])  # retried inside batch
        assert first == {"accepted": 2, "duplicates": 1, "last_seq": 2}
        again = store.append([ev("e2", item="b"), ev("e3", user="u2")])
        assert again == {"accepted": 1, "duplicates": 1, "last_seq": 3}
        assert store.count() == {"events": 3, "users": 2, "items": 2, "last_seq": 3}
        batch = store.read(0)
        assert batch.seq.tolist() == [1, 2, 3]
        assert list(batch.event_id) == ["e1", "e2", "e3"]
        assert list(batch.user_id) == ["u1", "u1", "u2"]
        assert batch.value.tolist() == [4.0, 4.0, 4.0]
    with EventStore(store_url) as store:  # reopening keeps everything
        assert store.count()["events"] == 3
        assert store.append([ev("e3", user="u2")])["duplicates"] == 1


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        (ev("x", user=""), "user_id", "empty id"),
        (ev("x", item="a\nb"), "item_id", "control character"),
        (ev("x", user="u" * 300), "user_id", "longer than 256"),
        (ev("x", item="i" * 257), "item_id", "longer than 256"),
        (ev("x", value=float("nan")), "value", "not finite"),
        (ev("x", value=float("inf")), "value", "not finite"),
        (ev("x", ts=1_700_000_000_000), "timestamp", "outside"),
        (ev("x", ts=-5), "timestamp", "outside"),
        (ev("x", user=None), "user_id", "missing"),
        (ev(""), "event_id", "empty id"),
    ],
)
def test_bad_event_refused_with_position_and_field_and_nothing_written(
    store_url: str, bad: dict, field: str, reason: str
) -> None:
    with EventStore(store_url) as store:
        store.append([ev("keep")])
        with pytest.raises(DataError) as err:
            store.append([ev("g1"), ev("g2", item="b"), bad])
        assert err.value.row == 2 and err.value.field == field
        assert reason in str(err.value)
        assert store.count()["events"] == 1
        assert list(store.read(0).event_id) == ["keep"]
        assert store.append([ev("g1")])["accepted"] == 1  # the batch's good rows were not kept


def test_rating_column_name_is_reported(store_url: str) -> None:
    rows = pd.DataFrame({"userId": [1, 2], "movieId": [3, 4], "rating": [4.0, np.nan]})
    with EventStore(store_url) as store, pytest.raises(DataError) as err:
        store.append(rows)
    assert (err.value.row, err.value.field) == (1, "rating")


def test_ids_without_event_id_are_content_hashes(store_url: str) -> None:
    frame = pd.DataFrame(
        {
            "user_id": [1, 2, 1],
            "item_id": [10, 10, 11],
            "rating": [5, 3, 4],
            "timestamp": [100, 200, 300],
        }
    )
    with EventStore(store_url) as store:
        assert store.append(frame)["accepted"] == 3
        assert store.append(frame) == {"accepted": 0, "duplicates": 3, "last_seq": 3}
        changed = frame.assign(rating=[5, 3, 5])  # a different value is a different event
        assert store.append(changed)["accepted"] == 1


def test_events_without_id_or_timestamp_among_others_get_hash_and_arrival(store_url: str) -> None:
    rows = [
        {"event_id": "a", "user_id": 1, "item_id": 10, "value": 5.0, "timestamp": 100},
        {"event_id": None, "user_id": 2, "item_id": 10, "value": 3.0, "timestamp": 200},
        {"user_id": 1, "item_id": 11, "value": 4.0, "timestamp": 300},
    ]
    rows[2]["timestamp"] = None  # stamped on arrival; its derived id leaves the stamp out
    with EventStore(store_url) as store:
        assert store.append(rows, now=1000)["accepted"] == 3
        assert store.append(rows, now=2000)["duplicates"] == 3
        batch = store.read()
    ids = batch.event_id.tolist()
    assert ids[0] == "a" and ids[1].startswith("h") and ids[2].startswith("h")
    assert batch.timestamp.tolist() == [100, 200, 1000]


def test_integer_ids_round_trip_and_are_enforced(store_url: str) -> None:
    with EventStore(store_url) as store:
        store.append({"user_id": [196, 22], "item_id": [242, 377], "timestamp": [10, 20]})
        batch = store.read(0)
        assert batch.user_id.dtype == np.int64 and batch.user_id.tolist() == [196, 22]
        store.append([ev("s", user="305", item=5)])  # digits as text are integers too
        with pytest.raises(DataError, match="integer user_id") as err:
            store.append([ev("t", user=1, item=1), ev("t2", user="abc", item=1)])
        assert err.value.row == 1
        data = store.read_interactions()
        assert sorted(data.user_map.ids.tolist()) == [22, 196, 305]


def test_integers_beyond_int64_are_text_ids(new_store_url: Callable[[], str]) -> None:
    """Regression: 2**63 was stored as an integer id and `read` failed converting it."""
    big = 2**63
    with EventStore(new_store_url()) as store:
        store.append([ev("a", user=big, item=1)])
        assert store.read(0).user_id.tolist() == [str(big)]
    with EventStore(new_store_url()) as store:
        store.append([ev("a", user=5, item=1)])
        for bad in (big, str(big), -big - 1):
            with pytest.raises(DataError) as err:
                store.append([ev("b", user=6, item=1), ev("c", user=bad, item=1)])
            assert (err.value.row, err.value.field) == (1, "user_id")
        assert store.read(0).user_id.tolist() == [5]


def test_id_types_fixed_by_another_writer_are_enforced(store_url: str) -> None:
    """A store opened before another process fixed the id types still checks against them."""
    with EventStore(store_url) as early, EventStore(store_url) as other:
        other.append([ev("a", user=1, item=2)])  # integer ids from now on
        with pytest.raises(DataError, match="integer user_id") as err:
            early.append([ev("b", user=3, item=4), ev("c", user="bob", item=4)])
        assert err.value.row == 1
        assert early.append([ev("d", user=3, item=4)]) == {
            "accepted": 1,
            "duplicates": 0,
            "last_seq": 2,
        }
        assert early.read(0).user_id.tolist() == [1, 3]


def test_string_store_accepts_integers_as_text(store_url: str) -> None:
    with EventStore(store_url) as store:
        store.append([ev("a", user="alice")])
        store.append([ev("b", user=7)])
        assert list(store.read(0).user_id) == ["alice", "7"]


def test_read_pages_in_sequence_order(store_url: str) -> None:
    with EventStore(store_url) as store:
        for k in range(5):
            store.append([ev(f"e{k}-{j}", item=f"i{j}") for j in range(7)])
        whole = store.read(0)
        pages, after = [], 0
        while True:
            page = store.read(after, limit=4)
            if not len(page):
                break
            pages.append(page)
            after = page.last_seq
        assert np.concatenate([p.seq for p in pages]).tolist() == whole.seq.tolist()
        assert whole.seq.tolist() == list(range(1, 36))
        assert store.read(30).seq.tolist() == [31, 32, 33, 34, 35]
        assert len(store.read(35)) == 0 and store.read(35).last_seq is None
        inter = store.read_interactions(after_seq=28)
        assert len(inter) == 7 and inter.timestamps is not None


def test_item_and_user_records(store_url: str) -> None:
    with EventStore(store_url) as store:
        store.append([ev("e1", item="a")])
        r = store.append_items(
            [
                {"item_id": "new", "text": "a film about rain", "features": {"genre": "drama"}},
                {"item_id": "a", "text": "old item"},
            ]
        )
        assert r == {"accepted": 2, "duplicates": 0, "last_seq": 3}
        assert (
            store.append_items(
                [{"item_id": "new", "text": "a film about rain", "features": {"genre": "drama"}}]
            )["duplicates"]
            == 1
        )
        assert (
            store.append_items([{"item_id": "new", "text": "a film about snow"}])["last_seq"] == 4
        )
        items = store.items()
        assert items["item_id"].tolist() == ["a", "new"]
        assert items.set_index("item_id").loc["new", "text"] == "a film about snow"
        assert store.items(after_seq=3)["item_id"].tolist() == ["new"]
        store.append_users([{"user_id": "u9", "features": {"age": 31}}])
        users = store.users()
        assert users["user_id"].tolist() == ["u9"] and users["features"][0] == {"age": 31}
        # the one sequence: an event after the records gets the next number
        assert store.append([ev("e2", item="new")])["last_seq"] == 6
        assert store.count() == {"events": 2, "users": 2, "items": 2, "last_seq": 6}
        with pytest.raises(DataError) as err:
            store.append_items([{"item_id": "z", "features": {"x": float("nan")}}])
        assert err.value.field == "features"


def test_export_csv(store_url: str, tmp_path: Path) -> None:
    with EventStore(store_url) as store:
        store.append([ev("e1"), ev("e2", user="u,2", value=2.5)])
        assert store.export_csv(tmp_path / "out.csv") == 2
    with (tmp_path / "out.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["event_id"] for r in rows] == ["e1", "e2"]
    assert rows[1]["user_id"] == "u,2" and float(rows[1]["value"]) == 2.5
    assert list(rows[0]) == ["seq", "event_id", "user_id", "item_id", "value", "timestamp"]


def test_durability_settings_are_read_back(store_url: str) -> None:
    with EventStore(store_url) as store:
        settings = store.settings()
    if store.backend_name == "sqlite":
        assert settings == {"journal_mode": "wal", "synchronous": "2"}
    else:
        assert settings == {"synchronous_commit": "on", "fsync": "on"}


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite://x.db", "sqlite:///", "events.db", "sqlite:///:memory:"]
)
def test_bad_urls_are_one_line_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        EventStore(url)
    assert "\n" not in str(err.value)


def test_sqlite_url_forms(tmp_path: Path) -> None:
    assert parse_url("sqlite:///rel/e.db") == ("sqlite", "rel/e.db")
    assert parse_url("sqlite:////abs/e.db") == ("sqlite", "/abs/e.db")
    with pytest.raises(ConfigError, match="does not exist"):
        EventStore(f"sqlite:///{tmp_path}/missing/e.db")


def test_sqlite_refuses_to_run_without_full_sync(tmp_path: Path, monkeypatch) -> None:
    """If the database does not keep synchronous=FULL (read back), the store refuses."""
    import sqlite3

    from rectune.online import _sqlite

    real = sqlite3.connect

    class Lax:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, *args):
            if sql == "PRAGMA synchronous=FULL":
                sql = "PRAGMA synchronous=NORMAL"
            return self.conn.execute(sql, *args)

        def close(self) -> None:
            self.conn.close()

    monkeypatch.setattr(_sqlite.sqlite3, "connect", lambda *a, **k: Lax(real(*a, **k)))
    with pytest.raises(ConfigError, match="synchronous=1"):
        EventStore(f"sqlite:///{tmp_path}/e.db")


def test_user_events_newest_first_without_compacted_ones(store_url: str, tmp_path: Path) -> None:
    with EventStore(store_url) as store:
        store.append([ev(f"e{k}", user=k % 2, item=10 + k, ts=1_700_000_000 + k) for k in range(7)])
        mine = store.user_events(1, limit=2)
        assert mine.seq.tolist() == [6, 4] and mine.item_id.tolist() == [15, 13]
        assert mine.user_id.dtype == np.int64 and mine.timestamp.tolist() == [
            1_700_000_005,
            1_700_000_003,
        ]
        assert store.user_events("0", limit=10).seq.tolist() == [7, 5, 3, 1]  # ids as text too
        assert len(store.user_events(9)) == 0 and len(store.user_events(1, limit=0)) == 0
        with pytest.raises(ConfigError, match="limit"):
            store.user_events(1, limit=-1)
        store.compact(keep_last=3, snapshot_dir=tmp_path / "snap")
        assert store.user_events(0, limit=10).seq.tolist() == [7, 5]

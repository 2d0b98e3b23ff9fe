"""EventStore under compaction, injected I/O errors and concurrent writers (both backends)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest

from rectune.errors import ArtifactError
from rectune.online import EventStore

DAY = 86_400
NOW = 1_700_000_000


def _fill(store: EventStore, n: int, *, start_ts: int = NOW - 10 * DAY) -> None:
    store.append(
        [
            {
                "event_id": f"e{k}",
                "user_id": f"u{k % 7}",
                "item_id": k % 11,
                "value": k % 5,
                "timestamp": start_ts + k * DAY // 4,
            }
            for k in range(n)
        ]
    )


def test_compaction_keeps_every_event_readable(store_url: str, tmp_path: Path) -> None:
    with EventStore(store_url) as store:
        _fill(store, 40)
        before, count = store.read(0).to_frame(), store.count()
        out = store.compact(keep_last=15, snapshot_dir=tmp_path / "snap")
        assert out["compacted"] == 25 and out["first_seq"] == 26 == store.first_seq
        assert Path(out["snapshot"]).is_file()
        out2 = store.compact(older_than_days=2, snapshot_dir=tmp_path / "snap", now=NOW)
        # events are 6 h apart from NOW - 10 days: the last 2 days hold the newest 8
        assert out2["first_seq"] == 33 and out2["compacted"] == 7
        after = store.read(0).to_frame()
        assert after.equals(before)
        assert store.count() == count
        assert store.read(20, limit=8).seq.tolist() == list(range(21, 29))
        # a retried compacted event is still a duplicate; new events continue the sequence
        again = store.append(
            [{"event_id": "e3", "user_id": "u3", "item_id": 3, "value": 3, "timestamp": NOW}]
        )
        assert again == {"accepted": 0, "duplicates": 1, "last_seq": 40}
        assert [s["last_seq"] for s in store.snapshots()] == [25, 32]
        assert store.compact(keep_last=100, snapshot_dir=tmp_path / "snap")["compacted"] == 0
    with EventStore(store_url) as store:
        assert store.read(0).to_frame().equals(before)
        Path(out["snapshot"]).unlink()
        with pytest.raises(ArtifactError, match="snapshot"):
            store.read(0)
        assert len(store.read(32)) == 8  # the log itself is unaffected


class Boom(OSError):
    pass


def _pg_fault(store: EventStore, where: str) -> Callable[[], None]:
    """Make the server fail the next batch half-way through its INSERT or at its COMMIT.

    PostgreSQL appends run inside the server (one function call), so the fault is injected
    there: a row trigger raising from the 101st event on, or a deferred constraint trigger
    raising when the transaction commits. Returns the function that removes it again.
    """
    conn = store._db.conn
    conn.execute(
        "CREATE FUNCTION rt_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk I/O error (injected)'; END $$"
    )
    if where == "insert":
        conn.execute(
            "CREATE TRIGGER rt_test_fail BEFORE INSERT ON rt_events FOR EACH ROW "
            "WHEN (NEW.seq > 100) EXECUTE FUNCTION rt_test_fail()"
        )
    else:
        conn.execute(
            "CREATE CONSTRAINT TRIGGER rt_test_fail AFTER INSERT ON rt_events DEFERRABLE "
            "INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rt_test_fail()"
        )

    def remove() -> None:
        conn.execute("DROP TRIGGER rt_test_fail ON rt_events")
        conn.execute("DROP FUNCTION rt_test_fail()")

    return remove


def _sqlite_fault(store: EventStore, where: str) -> Callable[[], None]:
    """Fail the next batch after half its rows went in, or at its COMMIT (Python-side)."""
    db = store._db
    real_insert, real_conn = db.insert_events, db.conn

    def half_then_fail(batch: list) -> int:
        real_insert(batch[: len(batch) // 2])
        raise Boom("disk I/O error (injected)")

    class FailingCommit:
        def __getattr__(self, name: str):
            return getattr(real_conn, name)

        def execute(self, sql: str, *args):
            if sql == "COMMIT":
                raise Boom("disk I/O error at commit (injected)")
            return real_conn.execute(sql, *args)

    if where == "insert":
        db.insert_events = half_then_fail  # type: ignore[method-assign]
    else:
        db.conn = FailingCommit()

    def remove() -> None:
        db.insert_events, db.conn = real_insert, real_conn  # type: ignore[method-assign]

    return remove


@pytest.mark.parametrize("where", ["insert", "commit"])
def test_io_error_mid_batch_writes_nothing(store_url: str, where: str) -> None:
    """A failure after half the batch went in (or at COMMIT) leaves none of it visible."""
    rows = [
        {"event_id": f"x{k}", "user_id": "u", "item_id": k, "timestamp": NOW} for k in range(200)
    ]
    with EventStore(store_url) as store:
        store.append(rows[:5])
        pg = store.backend_name == "postgresql"
        remove = (_pg_fault if pg else _sqlite_fault)(store, where)
        with pytest.raises(Exception, match="injected") as err:
            store.append(rows)
        assert isinstance(err.value, psycopg.errors.RaiseException if pg else Boom)
        remove()
        assert store.count()["events"] == 5 and store.count()["last_seq"] == 5
        assert store.append(rows) == {"accepted": 195, "duplicates": 5, "last_seq": 200}
    with EventStore(store_url) as store:
        assert store.read(0).seq.tolist() == list(range(1, 201))


def test_concurrent_writers_never_let_a_tailing_reader_skip(store_url: str) -> None:
    """Writers in parallel; a reader tailing seq > last must see every event exactly once."""
    writers, batches, size = 4, 30, 5
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            with EventStore(store_url) as store:
                for b in range(batches):
                    store.append(
                        [
                            {
                                "event_id": f"w{w}-{b}-{j}",
                                "user_id": f"u{w}",
                                "item_id": j,
                                "timestamp": NOW,
                            }
                            for j in range(size)
                        ]
                    )
        except BaseException as exc:
            errors.append(exc)

    seen: list[str] = []
    seqs: list[int] = []

    def tail() -> None:
        with EventStore(store_url) as store:
            last = 0
            while True:
                finished = done.is_set()
                batch = store.read(last)
                if len(batch):
                    seen.extend(batch.event_id)
                    seqs.extend(batch.seq.tolist())
                    last = batch.last_seq
                elif finished:
                    return

    with EventStore(store_url):
        pass  # the schema exists before the threads race
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader = threading.Thread(target=tail)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors
    expected = {
        f"w{w}-{b}-{j}" for w in range(writers) for b in range(batches) for j in range(size)
    }
    assert len(seen) == len(expected) and set(seen) == expected
    assert np.all(np.diff(seqs) > 0)

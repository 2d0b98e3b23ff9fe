"""`EventStore`: the durable, append-only log of interactions and item / user records.

One sequence numbers everything the store holds (events, item records and user records), so
the updater that tails ``seq > last`` sees a new item's record before the first event that
touches it, in commit order. Numbers are handed out under the store's write lock and roll
back with a failed batch; compaction is the only thing that ever removes a row from the log.

>>> import tempfile, os
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "events.db")
>>> with EventStore(url) as store:
...     store.append([{"event_id": "e1", "user_id": "u1", "item_id": "a", "value": 5,
...                    "timestamp": 1_700_000_000}])
...     store.append([{"event_id": "e1", "user_id": "u1", "item_id": "a", "value": 5,
...                    "timestamp": 1_700_000_000}])
...     store.count()
{'accepted': 1, 'duplicates': 0, 'last_seq': 1}
{'accepted': 0, 'duplicates': 1, 'last_seq': 1}
{'events': 1, 'users': 1, 'items': 1, 'last_seq': 1}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rectune.data import Interactions
from rectune.errors import ConfigError, DataError
from rectune.online._batch import event_columns, id_type, record_columns
from rectune.online._snapshot import read_snapshots, write_snapshot
from rectune.online._sql import EVENT_COLUMNS, SqlBackend


@dataclass
class EventBatch:
    """Events in sequence order as arrays (ids typed as the store's ids: int or str)."""

    seq: np.ndarray
    event_id: np.ndarray
    user_id: np.ndarray
    item_id: np.ndarray
    value: np.ndarray
    timestamp: np.ndarray

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def last_seq(self) -> int | None:
        """The sequence number of the last event, or None for an empty batch."""
        return int(self.seq[-1]) if len(self.seq) else None

    def to_frame(self) -> pd.DataFrame:
        """The canonical columns: seq, event_id, user_id, item_id, value, timestamp."""
        return pd.DataFrame({k: getattr(self, k) for k in _FIELDS})

    def to_interactions(self, *, kind: str = "rating") -> Interactions:
        """The events as `Interactions` (ids raw, in sequence order)."""
        return Interactions.from_raw(
            self.user_id,
            self.item_id,
            self.value,
            self.timestamp,
            kind=kind,  # type: ignore[arg-type]
        )


_FIELDS = ("seq", "event_id", "user_id", "item_id", "value", "timestamp")


def _rows_batch(
    rows: list[tuple[Any, ...]], user_int: bool | None, item_int: bool | None
) -> EventBatch:
    """`EventBatch` of rows in `EVENT_COLUMNS` order (what `EventStore._batch` gives for the
    same rows, without building a DataFrame: the updater reads every cycle)."""
    if not rows:
        empty = np.zeros(0, dtype=object)
        return EventBatch(np.zeros(0, np.int64), empty, empty, empty.copy(),
                          np.zeros(0, np.float64), np.zeros(0, np.int64))  # fmt: skip
    seq, eid, user, item, value, ts = zip(*rows, strict=True)

    def ids(col: tuple[Any, ...], as_int: bool | None) -> np.ndarray:
        arr = np.empty(len(col), dtype=object)
        arr[:] = col
        return arr.astype(np.int64) if as_int else arr

    return EventBatch(
        np.fromiter(seq, dtype=np.int64, count=len(rows)),
        ids(eid, False),
        ids(user, user_int),
        ids(item, item_int),
        np.fromiter(value, dtype=np.float64, count=len(rows)),
        np.fromiter(ts, dtype=np.int64, count=len(rows)),
    )


def check_batch(events: Any, *, now: int | None = None) -> int:
    """Run `EventStore.append`'s checks without a store; returns the number of events.

    Raises `DataError` with the 0-based position (``row``) and field of the first bad event.
    """
    return len(event_columns(events, now=now))


def parse_url(url: str) -> tuple[str, str]:
    """``sqlite:///PATH`` -> ("sqlite", PATH); ``postgresql://...`` -> ("postgresql", url).

    As in SQLAlchemy, ``sqlite:///events.db`` is relative and ``sqlite:////var/x.db`` absolute.
    """
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return "sqlite", url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql", url
    raise ConfigError(
        f"store URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
    )


class EventStore:
    """Append-only events with idempotent ids, item / user records and compaction.

    Parameters
    ----------
    url
        ``sqlite:///PATH`` (the embedded default: WAL, ``synchronous=FULL``, checked at open)
        or ``postgresql://...`` (psycopg 3; ``synchronous_commit`` and ``fsync`` checked).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.backend_name, target = parse_url(url)
        self._db: SqlBackend
        if self.backend_name == "sqlite":
            from rectune.online._sqlite import SqliteBackend

            self._db = SqliteBackend.open(target)
        else:
            from rectune.online._postgres import PostgresBackend

            self._db = PostgresBackend.open(target)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settings(self) -> dict[str, str]:
        """The durability settings read back from the database (what open checked)."""
        return self._db.checked_settings()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ writing
    def append(self, events: Any, *, now: int | None = None) -> dict[str, int]:
        """Store a batch atomically; events whose ``event_id`` is known are duplicates.

        ``events`` is a DataFrame, a dict of columns, a list of dicts or `Interactions`, with
        ``user_id``, ``item_id`` (or their common spellings), optional ``value``/``rating``,
        ``timestamp`` (Unix seconds; ``now`` or the current time when absent) and
        ``event_id`` (a content hash when absent). A bad event raises `DataError` with its
        position and field and nothing of the batch is written.

        Returns ``{"accepted", "duplicates", "last_seq"}`` once the batch is durably committed.
        """
        cols = event_columns(events, now=now)
        if not len(cols):
            return {"accepted": 0, "duplicates": 0, "last_seq": self._db.state().last_seq}
        accepted, last_seq = self._db.append_events(cols)
        return {"accepted": accepted, "duplicates": len(cols) - accepted, "last_seq": last_seq}

    def append_items(self, records: Any) -> dict[str, int]:
        """Store item records (``item_id``, optional ``text`` and ``features`` mapping).

        A record equal to the item's latest record is a duplicate; a changed one is stored
        with a new sequence number and becomes the item's current record.
        """
        return self._append_records(records, "rt_items", "item_id", with_text=True)

    def append_users(self, records: Any) -> dict[str, int]:
        """Store user records (``user_id``, optional ``features`` mapping), as `append_items`."""
        return self._append_records(records, "rt_users", "user_id", with_text=False)

    def _append_records(self, records: Any, table: str, col: str, *, with_text: bool) -> dict:
        recs = record_columns(records, col, with_text=with_text)
        if not recs.ids:
            return {"accepted": 0, "duplicates": 0, "last_seq": self._db.state().last_seq}
        with self._db.locked() as state:
            attr = "item_int" if with_text else "user_int"
            setattr(state, attr, id_type(getattr(state, attr), recs.ids, recs.as_int, col))
            latest = self._db.latest_records(table, col, set(recs.ids))
            rows: list[tuple[Any, ...]] = []
            seq = state.last_seq
            for k, rid in enumerate(recs.ids):
                body = (recs.texts[k], recs.features[k]) if with_text else (recs.features[k],)
                if latest.get(rid) == body:
                    continue
                latest[rid] = body
                seq += 1
                rows.append((seq, rid, *body))
            if rows:
                self._db.insert_records(table, rows)
            state.last_seq = seq
        return {"accepted": len(rows), "duplicates": len(recs.ids) - len(rows), "last_seq": seq}

    # ------------------------------------------------------------------ reading
    def read(self, after_seq: int = 0, limit: int | None = None) -> EventBatch:
        """Events with ``seq > after_seq`` in sequence order, at most ``limit`` of them.

        Events compacted into snapshots are read back from them, so ``read(0)`` always gives
        every event ever stored.
        """
        if limit is not None and limit < 0:
            raise ConfigError(f"limit must be >= 0, got {limit}")
        state = self._db.state()
        parts: list[pd.DataFrame] = []
        if after_seq + 1 < state.first_seq and state.snapshots:
            old = read_snapshots(state.snapshots, after_seq, state.first_seq - 1)
            parts.append(old.iloc[:limit] if limit is not None else old)
        got = sum(len(p) for p in parts)
        if limit is None or got < limit:
            rest = None if limit is None else limit - got
            rows = self._db.read_events(after_seq, rest)
            if not parts:  # the usual case: columns straight from the rows, no DataFrame
                return _rows_batch(rows, state.user_int, state.item_int)
            parts.append(pd.DataFrame.from_records(rows, columns=list(EVENT_COLUMNS)))
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return self._batch(frame, state.user_int, state.item_int)

    def user_events(self, user_id: Any, limit: int = 20) -> EventBatch:
        """The newest ``limit`` events of ``user_id`` still in the log, newest first (events
        compacted into snapshots are left out). The log has no index on users, so this scans
        it: meant for looking at one user (the dashboard), not for serving."""
        if limit < 0:
            raise ConfigError(f"limit must be >= 0, got {limit}")
        state = self._db.state()
        rows = self._db.user_events(str(user_id), limit)
        frame = pd.DataFrame.from_records(rows, columns=list(EVENT_COLUMNS))
        return self._batch(frame, state.user_int, state.item_int)

    def read_interactions(self, after_seq: int = 0, limit: int | None = None) -> Interactions:
        """`read` as `Interactions`."""
        return self.read(after_seq, limit).to_interactions()

    @staticmethod
    def _batch(frame: pd.DataFrame, user_int: bool | None, item_int: bool | None) -> EventBatch:
        def ids(col: str, as_int: bool | None) -> np.ndarray:
            arr = frame[col].to_numpy(dtype=object)
            return arr.astype(np.int64) if as_int and len(arr) else arr

        return EventBatch(
            frame["seq"].to_numpy(dtype=np.int64),
            frame["event_id"].to_numpy(dtype=object),
            ids("user_id", user_int),
            ids("item_id", item_int),
            frame["value"].to_numpy(dtype=np.float64),
            frame["ts"].to_numpy(dtype=np.int64),
        )

    def count(self) -> dict[str, int]:
        """``{"events", "users", "items", "last_seq"}``; events include compacted ones."""
        state = self._db.state()
        events, users, items = self._db.counts()
        return {
            "events": events + state.archived,
            "users": users,
            "items": items,
            "last_seq": state.last_seq,
        }

    @property
    def last_seq(self) -> int:
        """The last sequence number handed out (0: empty), read from the state row: cheap,
        unlike `count`, which counts the distinct users and items."""
        return self._db.state().last_seq

    @property
    def first_seq(self) -> int:
        """The first sequence number still in the log (earlier ones are in snapshots)."""
        return self._db.state().first_seq

    def snapshots(self) -> list[dict[str, Any]]:
        """The compaction snapshots: ``{"path", "first_seq", "last_seq", "count"}`` each."""
        return list(self._db.state().snapshots)

    def items(self, after_seq: int = 0) -> pd.DataFrame:
        """The current record of every item whose record changed after ``after_seq``."""
        rows = self._db.records("rt_items", "item_id", after_seq)
        frame = pd.DataFrame.from_records(rows, columns=["seq", "item_id", "text", "features"])
        return self._records_frame(frame, "item_id", self._db.state().item_int)

    def users(self, after_seq: int = 0) -> pd.DataFrame:
        """The current record of every user whose record changed after ``after_seq``."""
        rows = self._db.records("rt_users", "user_id", after_seq)
        frame = pd.DataFrame.from_records(rows, columns=["seq", "user_id", "features"])
        return self._records_frame(frame, "user_id", self._db.state().user_int)

    @staticmethod
    def _records_frame(frame: pd.DataFrame, col: str, as_int: bool | None) -> pd.DataFrame:
        frame["features"] = [None if f is None else json.loads(f) for f in frame["features"]]
        if as_int and len(frame):
            frame[col] = frame[col].astype(np.int64)
        return frame

    def export_csv(self, path: str | Path, *, chunk: int = 200_000) -> int:
        """Write every event (snapshots and log) in sequence order to a CSV; returns the count.

        Columns: seq, event_id, user_id, item_id, value, timestamp. Written to a temporary
        file and renamed, so a reader never sees half a file.
        """
        out = Path(path)
        tmp = out.with_name(out.name + ".tmp")
        n, after = 0, 0
        with tmp.open("w", newline="") as fh:
            fh.write(",".join(_FIELDS) + "\n")
            while True:
                batch = self.read(after, chunk)
                if not len(batch):
                    break
                batch.to_frame().to_csv(fh, header=False, index=False, lineterminator="\n")
                n += len(batch)
                after = int(batch.seq[-1])
        tmp.replace(out)
        return n

    # ------------------------------------------------------------------ retention
    def compact(
        self,
        *,
        older_than_days: float | None = None,
        keep_last: int | None = None,
        snapshot_dir: str | Path | None = None,
        now: int | None = None,
    ) -> dict[str, Any]:
        """Move the oldest events into a Parquet snapshot and out of the log.

        The compacted prefix of the log ends before the first event newer than
        ``older_than_days`` or before the newest ``keep_last`` events, whichever reaches
        further. The snapshot is written and fsynced before the log changes; the event ids
        stay known (a retried old event is still a duplicate) and `read` keeps returning
        compacted events from the snapshot. Returns ``{"compacted", "first_seq", "snapshot"}``.
        """
        if older_than_days is None and keep_last is None:
            raise ConfigError("compact needs older_than_days or keep_last")
        if keep_last is not None and keep_last < 0:
            raise ConfigError(f"keep_last must be >= 0, got {keep_last}")
        directory = Path(snapshot_dir) if snapshot_dir is not None else self._default_dir()
        state = self._db.state()
        older = None
        if older_than_days is not None:
            older = int((time.time() if now is None else now) - older_than_days * 86400)
        cut = self._db.cutoff(older, keep_last, state.first_seq)
        if cut < state.first_seq:
            return {"compacted": 0, "first_seq": state.first_seq, "snapshot": None}
        rows = self._db.read_range(state.first_seq, cut)
        frame = pd.DataFrame.from_records(rows, columns=list(EVENT_COLUMNS))
        path = write_snapshot(frame, directory, state.first_seq, cut)
        with self._db.locked() as st:
            if st.first_seq != state.first_seq:
                raise DataError("another compaction ran at the same time; nothing compacted")
            moved = self._db.archive(st.first_seq, cut)
            st.snapshots.append(
                {"path": str(path), "first_seq": st.first_seq, "last_seq": cut, "count": moved}
            )
            st.archived += moved
            st.first_seq = cut + 1
        return {"compacted": moved, "first_seq": cut + 1, "snapshot": str(path)}

    def _default_dir(self) -> Path:
        if self.backend_name != "sqlite":
            raise ConfigError("compact on postgresql needs snapshot_dir (where to write Parquet)")
        db = Path(self._db.location)
        return db.with_name(db.name + ".snapshots")

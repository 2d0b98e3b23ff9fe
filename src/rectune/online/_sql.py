"""The SQL both event-store backends share: schema, the locked append transaction, queries.

Every write takes the store's one write lock first (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL:
``SELECT ... FOR UPDATE`` of the single `rt_state` row) and reads the state row under it:
`SqlBackend.locked` for records and compaction, `SqlBackend.append_events` for event batches
(on PostgreSQL the same steps inside one server-side function). Appends are therefore
serialised: sequence numbers are handed out under the lock and committed in order, so a reader
tailing ``seq > last`` never skips a row that commits late (the trap of a plain PostgreSQL
``SEQUENCE``, whose values can commit out of order). The counter lives in `rt_state` and
rolls back with a failed batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from rectune.online._batch import EventColumns, id_type

log = logging.getLogger(__name__)

CHUNK = 500  # at most this many ids per IN (...) list and rows per INSERT statement

EVENT_COLUMNS = ("seq", "event_id", "user_id", "item_id", "value", "ts")


@dataclass
class State:
    """The single state row: sequence bookkeeping, id types, snapshots of compacted events."""

    last_seq: int = 0
    first_seq: int = 1
    archived: int = 0
    user_int: bool | None = None
    item_int: bool | None = None
    snapshots: list[dict[str, Any]] = field(default_factory=list)


class SqlBackend:
    """Generic SQL over a DB-API connection in autocommit mode (transactions are explicit)."""

    ph = "?"  # parameter placeholder
    real = "REAL"
    bigint = "INTEGER"
    begin_sql = "BEGIN"
    lock_suffix = ""
    ignore_conflict = "ON CONFLICT DO NOTHING"
    max_params = 999  # bound parameters per statement (SQLite's limit before 3.32)

    def __init__(self, conn: Any, location: str) -> None:
        self.conn = conn
        self.location = location

    # ------------------------------------------------------------------ schema
    def schema(self) -> list[str]:
        b, r = self.bigint, self.real
        return [
            "CREATE TABLE IF NOT EXISTS rt_state (id INTEGER PRIMARY KEY CHECK (id = 1), "
            f"last_seq {b} NOT NULL, first_seq {b} NOT NULL, archived {b} NOT NULL, "
            "user_int INTEGER, item_int INTEGER, snapshots TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS rt_events (seq {b} PRIMARY KEY, event_id TEXT NOT NULL "
            f"UNIQUE, user_id TEXT NOT NULL, item_id TEXT NOT NULL, value {r} NOT NULL, "
            f"ts {b} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS rt_archived (event_id TEXT PRIMARY KEY, seq {b} NOT NULL)",
            "CREATE TABLE IF NOT EXISTS rt_archived_ids (kind TEXT NOT NULL, id TEXT NOT NULL, "
            "PRIMARY KEY (kind, id))",
            f"CREATE TABLE IF NOT EXISTS rt_items (seq {b} PRIMARY KEY, item_id TEXT NOT NULL, "
            "text TEXT, features TEXT)",
            "CREATE INDEX IF NOT EXISTS rt_items_id ON rt_items (item_id, seq)",
            f"CREATE TABLE IF NOT EXISTS rt_users (seq {b} PRIMARY KEY, user_id TEXT NOT NULL, "
            "features TEXT)",
            "CREATE INDEX IF NOT EXISTS rt_users_id ON rt_users (user_id, seq)",
            "INSERT INTO rt_state (id, last_seq, first_seq, archived, snapshots) "
            f"VALUES (1, 0, 1, 0, '[]') {self.ignore_conflict}",
        ]

    def create_schema(self) -> None:
        with self.transaction():
            for stmt in self.schema():
                self.conn.execute(stmt)

    # ------------------------------------------------------------------ transactions
    def sql(self, text: str) -> str:
        return text if self.ph == "?" else text.replace("?", self.ph)

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.sql(text), tuple(params))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute(self.begin_sql)
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            try:  # a failed COMMIT may leave the transaction open: end it
                self.conn.execute("ROLLBACK")
            except Exception:
                log.debug("rollback after a failed transaction also failed", exc_info=True)
            raise

    @contextmanager
    def locked(self) -> Iterator[State]:
        """A write transaction holding the store's lock; yields the state row to update."""
        with self.transaction():
            state = self._read_state(lock=True)
            yield state
            self.execute(
                "UPDATE rt_state SET last_seq = ?, first_seq = ?, archived = ?, user_int = ?, "
                "item_int = ?, snapshots = ? WHERE id = 1",
                (
                    state.last_seq,
                    state.first_seq,
                    state.archived,
                    _flag(state.user_int),
                    _flag(state.item_int),
                    json.dumps(state.snapshots),
                ),
            )

    def state(self) -> State:
        return self._read_state(lock=False)

    def _read_state(self, *, lock: bool) -> State:
        suffix = self.lock_suffix if lock else ""
        row = self.execute(
            "SELECT last_seq, first_seq, archived, user_int, item_int, snapshots FROM rt_state "
            f"WHERE id = 1{suffix}"
        ).fetchone()
        last, first, archived, uint, iint, snaps = row
        return State(
            int(last), int(first), int(archived), _bool(uint), _bool(iint), json.loads(snaps)
        )

    # ------------------------------------------------------------------ events
    def append_events(self, cols: EventColumns) -> tuple[int, int]:
        """Store the events of a checked batch whose ids are new; ``(accepted, last_seq)``.

        One transaction under the store's lock: the id types are checked against the store's
        before anything is written, new events get the next sequence numbers in batch order
        and the sequence row moves on. A batch without repeated ids (and a store without
        compacted ones) is inserted at once, skipping events whose id is known; if every row
        went in, as is usual, that was the whole duplicate check. Otherwise the attempt is
        deleted again and the known ids are looked up, so the numbers stay gap-free.
        """
        ids = cols.event_ids
        with self.transaction():
            last, archived, uint, iint = self.execute(
                "SELECT last_seq, archived, user_int, item_int FROM rt_state WHERE id = 1"
                + self.lock_suffix
            ).fetchone()
            last, old_u, old_i = int(last), _bool(uint), _bool(iint)
            new_u = id_type(old_u, cols.users, cols.user_int, "user_id")
            new_i = id_type(old_i, cols.items, cols.item_int, "item_id")
            rows: list[tuple[Any, ...]] | None = None
            if not archived and len(set(ids)) == len(ids):
                rows = _numbered(last, cols, range(len(ids)))
                if self.insert_events(rows) != len(rows):  # some ids were known: undo
                    self.execute(
                        "DELETE FROM rt_events WHERE seq > ? AND seq <= ?", (last, last + len(rows))
                    )
                    rows = None
            if rows is None:
                known = self.existing_event_ids(list(dict.fromkeys(ids)), archived=bool(archived))
                keep = []
                for k, eid in enumerate(ids):
                    if eid not in known:
                        known.add(eid)
                        keep.append(k)
                rows = _numbered(last, cols, keep)
                if rows and self.insert_events(rows) != len(rows):
                    raise RuntimeError("new events were not inserted: is the store's lock held?")
            accepted = len(rows)
            if accepted or (new_u, new_i) != (old_u, old_i):
                self.execute(
                    "UPDATE rt_state SET last_seq = ?, user_int = ?, item_int = ? WHERE id = 1",
                    (last + accepted, _flag(new_u), _flag(new_i)),
                )
        return accepted, last + accepted

    def existing_event_ids(self, ids: Sequence[str], *, archived: bool = True) -> set[str]:
        """The ids among ``ids`` already stored (in the log, or compacted when ``archived``)."""
        found: set[str] = set()
        for chunk in _chunks(ids, min(CHUNK, self.max_params // 2)):
            marks = ",".join("?" * len(chunk))
            text = f"SELECT event_id FROM rt_events WHERE event_id IN ({marks})"
            params = chunk
            if archived:
                text += f" UNION ALL SELECT event_id FROM rt_archived WHERE event_id IN ({marks})"
                params = chunk + chunk
            found.update(r[0] for r in self.execute(text, params).fetchall())
        return found

    def insert_events(self, rows: list[tuple[Any, ...]]) -> int:
        """Insert numbered rows, skipping any whose event_id is stored; returns rows inserted.

        Multi-row ``INSERT ... VALUES`` statements of up to `CHUNK` rows: one statement
        execution per chunk instead of one per row.
        """
        done, size = 0, max(1, min(CHUNK, self.max_params // 6))
        for start in range(0, len(rows), size):
            part = rows[start : start + size]
            marks = ",".join(["(?, ?, ?, ?, ?, ?)"] * len(part))
            cur = self.execute(
                f"INSERT INTO rt_events VALUES {marks} ON CONFLICT (event_id) DO NOTHING",
                list(chain.from_iterable(part)),
            )
            done += int(cur.rowcount)
        return done

    def read_events(self, after_seq: int, limit: int | None) -> list[tuple[Any, ...]]:
        cols = ", ".join(EVENT_COLUMNS)
        text = f"SELECT {cols} FROM rt_events WHERE seq > ? ORDER BY seq"
        params: list[Any] = [after_seq]
        if limit is not None:
            text += " LIMIT ?"
            params.append(limit)
        return list(self.execute(text, params).fetchall())

    def user_events(self, user_id: str, limit: int) -> list[tuple[Any, ...]]:
        """A user's newest events in the log, newest first (a scan: user_id has no index)."""
        cols = ", ".join(EVENT_COLUMNS)
        return list(
            self.execute(
                f"SELECT {cols} FROM rt_events WHERE user_id = ? ORDER BY seq DESC LIMIT ?",
                (user_id, limit),
            ).fetchall()
        )

    def read_range(self, first: int, last: int) -> list[tuple[Any, ...]]:
        cols = ", ".join(EVENT_COLUMNS)
        return list(
            self.execute(
                f"SELECT {cols} FROM rt_events WHERE seq >= ? AND seq <= ? ORDER BY seq",
                (first, last),
            ).fetchall()
        )

    def cutoff(self, older_than: int | None, keep_last: int | None, first: int) -> int:
        """The last seq of the prefix that may be compacted (``first - 1``: none)."""
        cut = first - 1
        if older_than is not None:
            row = self.execute(
                "SELECT MIN(seq) FROM rt_events WHERE seq >= ? AND ts >= ?", (first, older_than)
            ).fetchone()
            if row[0] is None:
                row = self.execute("SELECT MAX(seq) FROM rt_events").fetchone()
                cut = max(cut, int(row[0]) if row[0] is not None else cut)
            else:
                cut = max(cut, int(row[0]) - 1)
        if keep_last is not None:
            row = self.execute(
                "SELECT seq FROM rt_events ORDER BY seq DESC LIMIT 1 OFFSET ?", (keep_last,)
            ).fetchone()
            if row is not None:
                cut = max(cut, int(row[0]))
        return cut

    def archive(self, first: int, last: int) -> int:
        """Move the events of ``[first, last]`` out of the log, keeping their ids and ids seen."""
        ign = self.ignore_conflict
        self.execute(
            f"INSERT INTO rt_archived SELECT event_id, seq FROM rt_events WHERE seq >= ? "
            f"AND seq <= ? {ign}",
            (first, last),
        )
        for kind, col in (("u", "user_id"), ("i", "item_id")):
            self.execute(
                f"INSERT INTO rt_archived_ids SELECT DISTINCT '{kind}', {col} FROM rt_events "
                f"WHERE seq >= ? AND seq <= ? {ign}",
                (first, last),
            )
        cur = self.execute("DELETE FROM rt_events WHERE seq >= ? AND seq <= ?", (first, last))
        return int(cur.rowcount)

    def counts(self) -> tuple[int, int, int]:
        """Events in the log, distinct users and distinct items (log, records, archive)."""
        events = self.execute("SELECT COUNT(*) FROM rt_events").fetchone()[0]
        out = [int(events)]
        for kind, col, table in (("u", "user_id", "rt_users"), ("i", "item_id", "rt_items")):
            n = self.execute(
                f"SELECT COUNT(*) FROM (SELECT {col} FROM rt_events UNION SELECT {col} FROM "
                f"{table} UNION SELECT id FROM rt_archived_ids WHERE kind = '{kind}') AS ids"
            ).fetchone()[0]
            out.append(int(n))
        return out[0], out[1], out[2]

    # ------------------------------------------------------------------ item / user records
    def latest_records(self, table: str, col: str, ids: Iterable[str]) -> dict[str, tuple]:
        extra = ", text" if table == "rt_items" else ""
        out: dict[str, tuple] = {}
        for chunk in _chunks(list(ids), min(CHUNK, self.max_params)):
            marks = ",".join("?" * len(chunk))
            rows = self.execute(
                f"SELECT {col}{extra}, features FROM {table} WHERE seq IN (SELECT MAX(seq) FROM "
                f"{table} WHERE {col} IN ({marks}) GROUP BY {col})",
                chunk,
            ).fetchall()
            out.update({r[0]: tuple(r[1:]) for r in rows})
        return out

    def insert_records(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(rows[0]))
        self.conn.cursor().executemany(self.sql(f"INSERT INTO {table} VALUES ({marks})"), rows)

    def records(self, table: str, col: str, after_seq: int) -> list[tuple[Any, ...]]:
        """The latest record of every id whose latest record has ``seq > after_seq``."""
        extra = ", text" if table == "rt_items" else ""
        return list(
            self.execute(
                f"SELECT seq, {col}{extra}, features FROM {table} WHERE seq > ? AND seq IN "
                f"(SELECT MAX(seq) FROM {table} GROUP BY {col}) ORDER BY seq",
                (after_seq,),
            ).fetchall()
        )

    def close(self) -> None:
        self.conn.close()


def _numbered(last: int, cols: EventColumns, keep: Sequence[int]) -> list[tuple[Any, ...]]:
    """Rows ``(seq, event_id, user_id, item_id, value, ts)`` of positions ``keep``, numbered on."""
    if len(keep) == len(cols):
        return list(
            zip(
                range(last + 1, last + len(keep) + 1),
                cols.event_ids,
                cols.users,
                cols.items,
                cols.values,
                cols.timestamps,
                strict=True,
            )
        )
    return [
        (
            last + 1 + j,
            cols.event_ids[k],
            cols.users[k],
            cols.items[k],
            cols.values[k],
            cols.timestamps[k],
        )
        for j, k in enumerate(keep)
    ]


def _chunks(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _flag(x: bool | None) -> int | None:
    return None if x is None else int(x)


def _bool(x: Any) -> bool | None:
    return None if x is None else bool(x)

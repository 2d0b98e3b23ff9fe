"""The shared backend: PostgreSQL through psycopg 3, for several processes or machines.

Appends lock the single `rt_state` row (``SELECT ... FOR UPDATE``) for the whole transaction,
so they commit one after another in sequence order and a tailing reader never skips a row that
commits late. ``synchronous_commit`` is set to ``on`` and read back at open, as is ``fsync``:
an acknowledged batch is on disk (and on a synchronous standby, if one is configured).
"""

from __future__ import annotations

from typing import Any

from rectune.errors import ConfigError
from rectune.online._sql import SqlBackend

_SCHEMA_LOCK = 0x7265637475  # advisory lock key serialising schema creation ("rectu")
_COPY_FROM = 50  # batches at least this long go through COPY


class PostgresBackend(SqlBackend):
    """psycopg 3 in autocommit mode with explicit ``BEGIN`` / ``COMMIT``."""

    ph = "%s"
    real = "DOUBLE PRECISION"
    bigint = "BIGINT"
    lock_suffix = " FOR UPDATE"

    @classmethod
    def open(cls, url: str, *, connect_timeout: int = 10) -> PostgresBackend:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - a declared dependency
            raise ConfigError("postgresql store: psycopg is not installed") from None
        shown = _redact(url)
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"postgresql store {shown}: cannot connect: {first}") from None
        conn.execute("SET synchronous_commit = on")
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
        if sync != "on" or fsync != "on":
            conn.close()
            raise ConfigError(
                f"postgresql store {shown}: synchronous_commit={sync}, fsync={fsync}; the store "
                "needs both on so an acknowledged write survives"
            )
        backend = cls(conn, shown)
        with backend.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for stmt in backend.schema():
                conn.execute(stmt)
        return backend

    def insert_events(self, rows: list[tuple[Any, ...]]) -> None:
        if len(rows) < _COPY_FROM:
            super().insert_events(rows)
            return
        cur = self.conn.cursor()
        with cur.copy(
            "COPY rt_events (seq, event_id, user_id, item_id, value, ts) FROM STDIN"
        ) as cp:
            for row in rows:
                cp.write_row(row)

    def checked_settings(self) -> dict[str, str]:
        sync = self.conn.execute("SHOW synchronous_commit").fetchone()[0]
        fsync = self.conn.execute("SHOW fsync").fetchone()[0]
        return {"synchronous_commit": str(sync), "fsync": str(fsync)}


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    cred, _, host = rest.rpartition("@")
    user = cred.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}" if ":" in cred else url

"""The embedded backend: one SQLite file in WAL mode with ``synchronous=FULL``.

Both settings are set and read back at open; a store that cannot have them (an in-memory
database, a file system without shared memory for WAL) is refused, because an acknowledged
write must survive a process crash (FULL syncs the WAL on every commit).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rectune.errors import ConfigError
from rectune.online._sql import SqlBackend

_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


class SqliteBackend(SqlBackend):
    """SQLite through the standard library, autocommit mode, explicit ``BEGIN IMMEDIATE``."""

    begin_sql = "BEGIN IMMEDIATE"

    @classmethod
    def open(cls, path: str, *, busy_timeout: float = 60.0) -> SqliteBackend:
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ConfigError(f"sqlite store {path!r}: needs a file path (sqlite:///PATH)")
        p = Path(path)
        if not p.parent.is_dir():
            raise ConfigError(f"sqlite store {path}: directory {p.parent} does not exist")
        try:
            conn = sqlite3.connect(p, timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigError(f"sqlite store {path}: cannot open: {exc}") from None
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            sync = conn.execute("PRAGMA synchronous").fetchone()[0]
        except sqlite3.Error as exc:
            conn.close()
            raise ConfigError(f"sqlite store {path}: cannot open: {exc}") from None
        if str(mode).lower() != "wal" or int(sync) != _FULL:
            conn.close()
            raise ConfigError(
                f"sqlite store {path}: journal_mode={mode}, synchronous={sync}; the store needs "
                "journal_mode=wal and synchronous=2 (FULL) so an acknowledged write survives"
            )
        backend = cls(conn, str(p))
        backend.max_params = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        backend.create_schema()
        return backend

    def checked_settings(self) -> dict[str, str]:
        """The durability settings as read back from the connection."""
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = self.conn.execute("PRAGMA synchronous").fetchone()[0]
        return {"journal_mode": str(mode), "synchronous": str(sync)}

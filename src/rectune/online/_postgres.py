"""The shared backend: PostgreSQL through psycopg 3, for several processes or machines.

Appends lock the single `rt_state` row (``SELECT ... FOR UPDATE``) for the whole transaction,
so they commit one after another in sequence order and a tailing reader never skips a row that
commits late. ``synchronous_commit`` is set to ``on`` and read back at open, as is ``fsync``:
an acknowledged batch is on disk (and on a synchronous standby, if one is configured).

An event batch is one call of the server-side function `APPEND_FUNCTION` in autocommit mode:
one round trip and one transaction (lock, duplicate check, insert, sequence row) instead of
six statements, each waiting for the network. psycopg returns its result only once the server
has reported the implicit COMMIT done, so an acknowledged batch is as durable as before.
"""

from __future__ import annotations

from rectune.errors import ConfigError
from rectune.online._batch import EventColumns, id_type
from rectune.online._sql import SqlBackend

_SCHEMA_LOCK = 0x7265637475  # advisory lock key serialising schema creation ("rectu")

#: Appends one batch of events with distinct ids. Each statement of a (volatile) PL/pgSQL
#: function takes a new snapshot under READ COMMITTED, so the INSERT, which runs after the
#: state row's lock is granted, sees every event committed by the previous lock holder. It
#: returns NULL, writing nothing, when the store's id types are not the ones the caller
#: checked the batch against (another process fixed them meanwhile): the caller re-checks.
APPEND_FUNCTION = "rt_append_events"
_SIGNATURE = (
    "(p_event_id text[], p_user_id text[], p_item_id text[], p_value double precision[], "
    "p_ts bigint[], p_user_int integer, p_item_int integer) RETURNS bigint[]"
)
_BODY = """
DECLARE
    s_last bigint; s_archived bigint; s_user integer; s_item integer; n bigint;
BEGIN
    SELECT last_seq, archived, user_int, item_int INTO s_last, s_archived, s_user, s_item
        FROM rt_state WHERE id = 1 FOR UPDATE;
    IF s_user <> p_user_int OR s_item <> p_item_int THEN
        RETURN NULL;
    END IF;
    INSERT INTO rt_events (seq, event_id, user_id, item_id, value, ts)
        SELECT s_last + row_number() OVER (ORDER BY t.ord), t.e, t.u, t.i, t.v, t.ts
        FROM unnest(p_event_id, p_user_id, p_item_id, p_value, p_ts)
            WITH ORDINALITY AS t(e, u, i, v, ts, ord)
        WHERE NOT EXISTS (SELECT 1 FROM rt_events x WHERE x.event_id = t.e)
            AND (s_archived = 0
                 OR NOT EXISTS (SELECT 1 FROM rt_archived a WHERE a.event_id = t.e));
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 OR s_user IS NULL OR s_item IS NULL THEN
        UPDATE rt_state SET last_seq = s_last + n, user_int = COALESCE(user_int, p_user_int),
            item_int = COALESCE(item_int, p_item_int) WHERE id = 1;
    END IF;
    RETURN ARRAY[n, s_last + n];
END
"""


class PostgresBackend(SqlBackend):
    """psycopg 3 in autocommit mode with explicit ``BEGIN`` / ``COMMIT``."""

    ph = "%s"
    real = "DOUBLE PRECISION"
    bigint = "BIGINT"
    lock_suffix = " FOR UPDATE"
    max_params = 65_535
    id_types: tuple[bool | None, bool | None] = (None, None)  # the store's, as last read

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
            backend._create_function()
        state = backend.state()
        backend.id_types = (state.user_int, state.item_int)
        return backend

    def _create_function(self) -> None:
        """(Re)define `APPEND_FUNCTION` in the store's schema unless it is already this one.

        Left alone when current, so a store shared by several database roles needs no
        ownership of it to open.
        """
        row = self.conn.execute(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = %s AND n.nspname = current_schema()",
            (APPEND_FUNCTION,),
        ).fetchone()
        if row is None or row[0] != _BODY:
            self.conn.execute(
                f"CREATE OR REPLACE FUNCTION {APPEND_FUNCTION}{_SIGNATURE} LANGUAGE plpgsql "
                f"AS $fn${_BODY}$fn$"
            )

    def append_events(self, cols: EventColumns) -> tuple[int, int]:
        """`SqlBackend.append_events` in one call of `APPEND_FUNCTION` (one round trip).

        The id types are checked against the store's as last seen (they never change once
        fixed); in-batch repeats are dropped here, since the function's duplicate check sees
        only committed rows.
        """
        ids = cols.event_ids
        keep = range(len(ids))
        if len(set(ids)) != len(ids):
            first: dict[str, int] = {}
            for k, eid in enumerate(ids):
                first.setdefault(eid, k)
            keep = sorted(first.values())  # type: ignore[assignment]
        args: list[list] = [ids, cols.users, cols.items, cols.values, cols.timestamps]
        if len(keep) != len(ids):
            args = [[col[k] for k in keep] for col in args]
        for _ in range(3):
            types = self.id_types
            user = id_type(types[0], cols.users, cols.user_int, "user_id")
            item = id_type(types[1], cols.items, cols.item_int, "item_id")
            got = self.execute(
                f"SELECT {APPEND_FUNCTION}(?::text[], ?::text[], ?::text[], "
                "?::double precision[], ?::bigint[], ?::integer, ?::integer)",
                (*args, int(user), int(item)),
            ).fetchone()[0]
            if got is not None:
                self.id_types = (user, item)
                return int(got[0]), int(got[1])
            state = self.state()  # the id types were fixed by another process: check again
            self.id_types = (state.user_int, state.item_int)
        raise RuntimeError("the store's id types kept changing while appending")

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

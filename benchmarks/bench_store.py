"""Event-store ingest throughput with full durability: batches of 1 and of 100, both backends.

SQLite runs in WAL mode with ``synchronous=FULL`` (every commit syncs the WAL); PostgreSQL with
``synchronous_commit=on`` and ``fsync=on`` on a throwaway local server (``RECTUNE_PG_URL`` to use
another). Each batch is one durable commit of new events with fresh ids, given as a list of
dicts (the shape a service receives). The timer covers `EventStore.append` only (validation,
duplicate check, sequence numbers, insert, durable commit); building the batch's dicts is
outside it. A cell runs until ``--seconds`` of appending have accumulated.

The peer in the same run is the bare driver with the same durability: ``sqlite3`` (WAL, FULL)
or psycopg inserting the same rows, prebuilt as tuples, into a table with the same columns and
unique ``event_id``, one transaction per batch, with no checks, no duplicate handling and no
sequence bookkeeping: the floor of a durable commit on this disk at that moment. The
machine is shared, so each cell alternates store and bare runs (``--repeat`` rounds) and the
table gives medians.

    PYTHONPATH=src python benchmarks/bench_store.py [--seconds 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine

from rectune.online import EventStore

TABLE = (
    "CREATE TABLE IF NOT EXISTS bare_events (seq BIGINT PRIMARY KEY, event_id TEXT NOT NULL "
    "UNIQUE, user_id TEXT NOT NULL, item_id TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, "
    "ts BIGINT NOT NULL)"
)


def _rows(tag: str, batch: int, k: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{tag}{batch}-{k}-{j}",
            "user_id": f"u{(k + j) % 943}",
            "item_id": (k * 31 + j) % 1682,
            "value": 4.0,
            "timestamp": 1_700_000_000 + k,
        }
        for j in range(batch)
    ]


def rows_per_second(url: str, batch: int, seconds: float, tag: str) -> tuple[float, float]:
    """Append batches of ``batch`` new events for ``seconds`` of append time.

    Returns rows per second and this process's CPU microseconds per append (`time.process_time`:
    excludes waiting for the disk's flush and, for PostgreSQL, the server's work).
    """
    with EventStore(url) as store:
        n, k, elapsed, cpu = 0, 0, 0.0, 0.0
        while elapsed < seconds:
            rows = _rows(tag, batch, k)
            start, start_cpu = time.perf_counter(), time.process_time()
            n += store.append(rows)["accepted"]
            cpu += time.process_time() - start_cpu
            elapsed += time.perf_counter() - start
            k += 1
    return n / elapsed, cpu / k * 1e6


def bare_rows_per_second(
    backend: str, target: str, batch: int, seconds: float, tag: str
) -> tuple[float, int]:
    """The same rows through the bare driver, one durable transaction per batch."""
    if backend == "sqlite":
        conn: Any = sqlite3.connect(target, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        sql, begin = "INSERT INTO bare_events VALUES (?, ?, ?, ?, ?, ?)", "BEGIN IMMEDIATE"
    else:
        import psycopg

        conn = psycopg.connect(target, autocommit=True)
        conn.execute("SET synchronous_commit = on")
        sql, begin = "INSERT INTO bare_events VALUES (%s, %s, %s, %s, %s, %s)", "BEGIN"
    conn.execute(TABLE)
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM bare_events").fetchone()
    seq, n, k, elapsed = int(row[0]), 0, 0, 0.0
    try:
        while elapsed < seconds:
            rows = [
                (seq + j + 1, r["event_id"], r["user_id"], str(r["item_id"]), r["value"],
                 r["timestamp"])
                for j, r in enumerate(_rows(tag, batch, k))
            ]  # fmt: skip
            start = time.perf_counter()
            conn.execute(begin)
            conn.cursor().executemany(sql, rows)
            conn.execute("COMMIT")
            elapsed += time.perf_counter() - start
            seq, n, k = seq + batch, n + batch, k + 1
    finally:
        conn.close()
    return n / elapsed, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3, help="rounds per cell (medians reported)")
    args = ap.parse_args()

    from rectune.testing.pgserver import PgServer, find_binaries

    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    urls = {"sqlite": (f"sqlite:///{tmp / 'events.db'}", str(tmp / "bare.db"))}
    server = None
    if os.environ.get("RECTUNE_PG_URL"):
        urls["postgresql"] = (os.environ["RECTUNE_PG_URL"],) * 2
    elif (bindir := find_binaries()) is not None:
        server = PgServer(bindir).start()
        urls["postgresql"] = (server.url, server.url)
    print(f"machine: {machine()}; {args.seconds:g} s per run, {args.repeat} runs per cell")
    print(
        "| backend | batch | rows/s | commits/s | bare driver rows/s | store / bare "
        "| client CPU us/append | rows/s of each run |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    try:
        for name, (url, bare) in urls.items():
            for batch in (1, 100):
                store_runs, bare_runs, cpu_runs = [], [], []
                for r in range(args.repeat):
                    rate, cpu = rows_per_second(url, batch, args.seconds, f"s{r}-")
                    store_runs.append(rate)
                    cpu_runs.append(cpu)
                    bare_runs.append(
                        bare_rows_per_second(name, bare, batch, args.seconds, f"b{r}-")[0]
                    )
                rate, floor = statistics.median(store_runs), statistics.median(bare_runs)
                runs = " / ".join(f"{s:,.0f}" for s in store_runs)
                print(
                    f"| {name} | {batch} | {rate:,.0f} | {rate / batch:,.0f} | {floor:,.0f} | "
                    f"{rate / floor:.2f} | {statistics.median(cpu_runs):,.0f} | {runs} |",
                    flush=True,
                )
    finally:
        if server is not None:
            server.stop()
        elif "postgresql" in urls:  # a server of the caller's: leave no bare table behind
            import psycopg

            with psycopg.connect(urls["postgresql"][1], autocommit=True) as conn:
                conn.execute("DROP TABLE IF EXISTS bare_events")


if __name__ == "__main__":
    main()

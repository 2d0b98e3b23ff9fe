"""Event-store ingest throughput with full durability: batches of 1 and of 100, both backends.

SQLite runs in WAL mode with ``synchronous=FULL`` (every commit syncs the WAL); PostgreSQL with
``synchronous_commit=on`` and ``fsync=on`` on a throwaway local server (``RECTUNE_PG_URL`` to use
another). Each batch is one durable commit of new events with fresh ids.

    PYTHONPATH=src python benchmarks/bench_store.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import machine

from rectune.online import EventStore


def rows_per_second(url: str, batch: int, seconds: float) -> tuple[float, int]:
    """Append batches of ``batch`` new events for about ``seconds``; rows per second."""
    with EventStore(url) as store:
        n, k, start = 0, 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            rows = [
                {
                    "event_id": f"b{batch}-{k}-{j}",
                    "user_id": f"u{(k + j) % 943}",
                    "item_id": (k * 31 + j) % 1682,
                    "value": 4.0,
                    "timestamp": 1_700_000_000 + k,
                }
                for j in range(batch)
            ]
            n += store.append(rows)["accepted"]
            k += 1
        elapsed = time.perf_counter() - start
    return n / elapsed, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    import os

    from rectune.testing.pgserver import PgServer, find_binaries

    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    urls = {"sqlite": f"sqlite:///{tmp / 'events.db'}"}
    server = None
    if os.environ.get("RECTUNE_PG_URL"):
        urls["postgresql"] = os.environ["RECTUNE_PG_URL"]
    elif (bindir := find_binaries()) is not None:
        server = PgServer(bindir).start()
        urls["postgresql"] = server.url
    print(f"machine: {machine()}; {args.seconds:g} s per cell")
    print("| backend | batch | rows/s | commits/s | rows |")
    print("|---|---:|---:|---:|---:|")
    try:
        for name, url in urls.items():
            for batch in (1, 100):
                rate, n = rows_per_second(url, batch, args.seconds)
                print(f"| {name} | {batch} | {rate:,.0f} | {rate / batch:,.0f} | {n:,} |")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()

"""The ingest crash loop as a script: ``kill -9`` an ingesting process 20 times, then audit.

Each child appends batches of 20 new events (plus 3 retried ones) and prints an ack after each
commit; the audit checks that every acknowledged batch is in the store exactly once, that no
batch is there in part and that the store reopens. Both backends (PostgreSQL: a throwaway local
server, or ``RECTUNE_PG_URL``).

    PYTHONPATH=src python benchmarks/crash_ingest.py [--kills 20]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from rectune.testing.ingest_crash import audit, crash_loop
from rectune.testing.pgserver import PgServer, find_binaries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    urls = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp(prefix='crash-')) / 'events.db'}"}
    server = None
    if os.environ.get("RECTUNE_PG_URL"):
        urls["postgresql"] = os.environ["RECTUNE_PG_URL"]
    elif (bindir := find_binaries()) is not None:
        server = PgServer(bindir).start()
        urls["postgresql"] = server.url
    failed = False
    try:
        for name, url in urls.items():
            report = audit(url, crash_loop(url, args.kills, seed=args.seed))
            ok = (
                report["missing_acked"] == 0
                and report["stored_twice"] == 0
                and report["partial_batches"] == 0
                and report["seq_increasing"]
                and report["count_matches"]
            )
            failed |= not ok
            print(json.dumps({"backend": name, "ok": ok, **report}))
    finally:
        if server is not None:
            server.stop()
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()

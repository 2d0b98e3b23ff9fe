"""The service crash loop as a script: ``kill -9`` ``rectune serve`` 20 times during ingest.

A feeder process posts batches of 20 events (25 batches/s, one in ten refused for an invalid
event) through `rectune.client.Client`, whose retries reuse the event ids; the server (updater
on, a cycle every 200 events or 1 s) is killed after a random 0.3-1.5 s and restarted at once
on the same port, 20 times; each restart is timed from the spawn to the first ``/readyz`` 200.
Then the audit of `rectune.testing.serve_crash`: every acknowledged event stored exactly once,
nothing of a refused batch stored, no batch stored in part, every stored id one the client
sent, no updater child outliving its server, every restart ready within 3 s.

    PYTHONPATH=src python benchmarks/crash_serve.py [--kills 20] [--data ml-100k] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from _common import data_dir, machine

from rectune.testing.serve_crash import audit, crash_loop, setup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="ml-100k", help="a dataset directory name, or synthetic")
    args = ap.parse_args()
    data = None
    if args.data != "synthetic":
        from rectune.data.loaders import load

        data = load(data_dir() / args.data)
    cfg = setup(tempfile.mkdtemp(prefix="crash-serve-"), data, seed=args.seed)
    t0 = time.perf_counter()
    loop = crash_loop(cfg, args.kills, seed=args.seed)
    report = audit(cfg, loop)
    report.update(
        data=args.data,
        first_start_seconds=round(loop["first_start_seconds"], 3),
        seconds=round(time.perf_counter() - t0, 1),
        machine=machine(),
    )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

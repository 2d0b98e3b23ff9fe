"""The updater crash loop as a script: ``kill -9`` a running ``rectune updater`` 20 times.

Events are ingested (25 per batch, ~500 events/s) throughout; after the kills one catch-up
(`Updater.run_once`) and the audit of `rectune.testing.updater_crash`: every version's consumed
range begins one past its parent's, the champion holds every stored event, exactly once (its
seen matrix sums to the base data plus the stored events, each weighing 1), and every version
verifies.

    PYTHONPATH=src python benchmarks/crash_updater.py [--kills 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from rectune.testing.updater_crash import audit, crash_loop, setup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = setup(tempfile.mkdtemp(prefix="crash-updater-"), seed=args.seed)
    t0 = time.perf_counter()
    loop = crash_loop(cfg, args.kills, seed=args.seed)
    report = audit(cfg)
    report.update(
        kills=loop["kills"],
        catch_up_cycles=loop["final_cycles"],
        kill_after_seconds=[round(w, 2) for w in loop["waits"]],
        seconds=round(time.perf_counter() - t0, 1),
        ok=True,
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

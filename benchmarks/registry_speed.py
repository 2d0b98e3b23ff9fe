"""Registry operation times on an ML-100K-sized model: add, guarded promote, rollback, gc.

An SVD is fitted on the first 90% of ML-100K by time and a second one with another seed; the
last 10% are the held-out events of the guard (``rmse<=+0.01,ndcg@10>=-0.01``). Each operation
is timed ``--repeat`` times on the same registry (median and max, milliseconds), fsync included.

    PYTHONPATH=src RECTUNE_DATA_DIR=/work/shared/data python benchmarks/registry_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rectune.data.loaders import default_data_dir, load
from rectune.models.mf import SVD
from rectune.online import Registry
from rectune.training import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data_dir = default_data_dir()
    if data_dir is None:
        raise SystemExit("set RECTUNE_DATA_DIR to the folder holding ml-100k")
    data = load(data_dir / "ml-100k")
    order = np.argsort(data.timestamps, kind="stable")
    cut = int(0.9 * len(data))
    train, held = data.subset(np.sort(order[:cut])), data.subset(np.sort(order[cut:]))
    work = Path(tempfile.mkdtemp(prefix="regspeed-"))
    for name, seed in (("a", 0), ("b", 1)):
        SVD(epochs=20).fit(train, train=TrainConfig(seed=seed)).save(work / name)
    size = sum(f.stat().st_size for f in (work / "a").iterdir())
    reg = Registry.init(work / "reg", work / "a")
    times: dict[str, list[float]] = {"add": [], "promote (guarded)": [], "rollback": [], "gc": []}
    guard = "rmse<=+0.01,ndcg@10>=-0.01"
    for k in range(args.repeat):
        t0 = time.perf_counter()
        v = reg.add(work / ("b" if k % 2 == 0 else "a"), parent=1, events=(k * 10, k * 10 + 9))
        t1 = time.perf_counter()
        res = reg.promote(v, guard=guard, data=held, force=False)
        t2 = time.perf_counter()
        if res.accepted:
            reg.rollback()
        t3 = time.perf_counter()
        reg.gc(keep=3)
        t4 = time.perf_counter()
        times["add"].append(t1 - t0)
        times["promote (guarded)"].append(t2 - t1)
        if res.accepted:
            times["rollback"].append(t3 - t2)
        times["gc"].append(t4 - t3)
    print(
        f"ML-100K SVD artifact: {size / 1e6:.1f} MB; held-out events: {len(held):,}; "
        f"guard {guard}; last outcome: {res.action} ({'; '.join(c.describe() for c in res.checks)})"
    )
    print("| operation | median ms | max ms | runs |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        if ts:
            ms = [t * 1000 for t in ts]
            print(f"| {name} | {statistics.median(ms):.0f} | {max(ms):.0f} | {len(ms)} |")


if __name__ == "__main__":
    main()

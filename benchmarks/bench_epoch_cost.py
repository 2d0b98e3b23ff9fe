"""Fit time of the models that record per-epoch history, to compare two trees (issue 11).

Times `model.fit(data)` of each model's default config on ML-100K (seed 0, threads=1): wall
(perf_counter) and CPU (process_time) seconds, min and median of ``--repeats`` fits, after one
warm-up fit of a small config (numba's cache load). Run it once per tree with that tree first on
PYTHONPATH, alternating, and compare the figures of the same round:

    PYTHONPATH=/tmp/before/src python benchmarks/bench_epoch_cost.py --models svdpp,nmf
    PYTHONPATH=src python benchmarks/bench_epoch_cost.py --models svdpp,nmf
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.models import create_model
from rectune.training.config import TrainConfig

WARM = {
    "bpmf": {"iterations": 3, "burn_in": 1, "keep": 1},
    "svdpp": {"epochs": 1},
    "svd": {"epochs": 1},
    "nmf": {"epochs": 1},
    "als": {"epochs": 1},
    "bpr": {"epochs": 1},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="svdpp,nmf,als,bpr,bpmf")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    data = load(data_dir() / "ml-100k")
    train = TrainConfig(seed=0, threads=1)
    print(machine())
    for name in args.models.split(","):
        create_model(name, **WARM.get(name, {})).fit(data, train=train)
        wall, cpu = [], []
        for _ in range(args.repeats):
            model = create_model(name)
            t0, c0 = time.perf_counter(), time.process_time()
            model.fit(data, train=train)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(
            f"{name}: wall min {min(wall):.3f} med {statistics.median(wall):.3f} s | "
            f"cpu min {min(cpu):.3f} med {statistics.median(cpu):.3f} s | n={args.repeats} "
            f"epochs recorded={len(model.epoch_history_)}",
            flush=True,
        )


if __name__ == "__main__":
    main()

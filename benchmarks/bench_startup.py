"""The first fit in a fresh process, split into imports, numba set-up and the fit itself.

Usage: python benchmarks/bench_startup.py [--models popularity,baseline,svd] [--runs 9]
       [--src [LABEL=]DIR --src [LABEL=]DIR ...]

Each run spawns a new interpreter that imports rectune, builds the training set of fold 1 of
ML-100K (the 5-fold split of bench_surprise.py, from arrays) and fits the model twice. With
several ``--src`` trees (e.g. main's ``src`` and a branch's) their runs interleave (A, B, A, B,
...) so that every tree sees the same machine load. Per tree and model it prints medians of:

- wall s: spawning the process to the end of the first fit (bench_surprise's "first fit, fresh
  process" column);
- cpu s: the process's CPU time (user + system) at the end of the first fit, which other
  processes on shared cores inflate less than wall time;
- import s, first fit s, second fit s: wall time inside the process (`Recommender.fit` calls);
- kernels: numba kernels loaded by the first fit (0: numba's set-up is not paid).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.testing.peers import kfold

#: Model parameters of the runs (those of bench_surprise.py's pairs).
PARAMS: dict[str, dict] = {"svd": {"shuffle": False}}

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
from rectune.data import Interactions
from rectune.models import create_model
t1 = time.perf_counter()
a = np.load(sys.argv[1])
data = Interactions.from_raw(a["u"], a["i"], a["r"])
params = json.loads(sys.argv[3])
model = create_model(sys.argv[2], **params)
t2 = time.perf_counter()
model.fit(data)
t3 = time.perf_counter()
end = time.time()
use = resource.getrusage(resource.RUSAGE_SELF)
cpu = use.ru_utime + use.ru_stime
kernels = 0
if "numba" in sys.modules:
    from numba.core.registry import CPUDispatcher
    kernels = len({
        id(obj) for name, mod in list(sys.modules.items()) if name.startswith("rectune")
        for obj in vars(mod).values() if isinstance(obj, CPUDispatcher) and obj.overloads
    })
t4 = time.perf_counter()
create_model(sys.argv[2], **params).fit(data)
second = time.perf_counter() - t4
print(json.dumps({"end": end, "cpu": cpu, "import": t1 - t0, "fit1": t3 - t2, "fit2": second,
                  "kernels": kernels}))
"""


def run_once(tree: str | None, arrays: str, model: str) -> dict[str, float]:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree.split("=", 1)[-1]
    argv = [sys.executable, "-c", CHILD, arrays, model, json.dumps(PARAMS.get(model, {}))]
    t0 = time.time()
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    rec["wall"] = rec.pop("end") - t0
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="popularity,baseline,svd")
    ap.add_argument("--runs", type=int, default=9, help="fresh processes per tree and model")
    ap.add_argument("--src", action="append", default=None, help="source tree (repeatable)")
    args = ap.parse_args()
    trees = args.src or [None]
    data = load(data_dir() / "ml-100k")
    test = next(iter(kfold(data, 5, seed=0)))[1]
    train = np.ones(len(data), bool)
    train[test] = False
    arrays = os.path.join(tempfile.mkdtemp(prefix="bench_startup_"), "ml-100k.npz")
    np.savez(arrays, u=data.user_ids[train], i=data.item_ids[train], r=data.values[train])
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"ML-100K fold 1: {int(train.sum()):,} ratings; {args.runs} fresh processes each\n")
    cols = ["wall", "cpu", "import", "fit1", "fit2", "kernels"]
    print("| model | tree | wall s | cpu s | import s | first fit s | second fit s | kernels |")
    print("|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for tree in trees:  # one uncounted run per tree: fills numba's on-disk cache
            run_once(tree, arrays, model)
        runs: dict[str | None, list[dict[str, float]]] = {t: [] for t in trees}
        for _ in range(args.runs):
            for tree in trees:
                runs[tree].append(run_once(tree, arrays, model))
        for tree in trees:
            med = {c: float(np.median([r[c] for r in runs[tree]])) for c in cols}
            cells = " | ".join(f"{med[c]:.3f}" for c in cols[:-1])
            label = tree.split("=", 1)[0] if tree else "installed"
            print(f"| {model} | {label} | {cells} | {med['kernels']:.0f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

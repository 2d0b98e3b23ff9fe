"""rectune vs Surprise on the same 5 folds, same hyperparameters.

Usage: python benchmarks/bench_surprise.py [--datasets ml-100k,ml-latest-small] [--algos ...]

Prints RMSE, MAE, fit and predict seconds per fold (means over folds) for each counterpart
pair and the rectune/Surprise ratios. Numba kernels are warmed up on a tiny dataset first, so
timings exclude compilation (see compile_cost.py for that).

"first fit, fresh process" is what a user waits for once per process: a new interpreter that
imports the library, builds its training set from fold 1's rows (already in memory as arrays)
and fits once, timed from spawning the process to the end of that fit (median of
``--fresh-runs`` runs; numba kernels already in the on-disk cache).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.models import create_model
from rectune.testing import low_rank
from rectune.testing.peers import kfold
from rectune.training import TrainConfig

#: name -> (rectune model name, rectune params, Surprise factory taking a seed)
PAIRS: dict[str, tuple[str, dict, Callable[[int], object]]] = {}
#: Algorithms whose result depends on a random initialisation (run once per --seeds value).
SEEDED = {"SVD", "SVD++", "NMF"}


def _pairs() -> None:
    import surprise as s

    PAIRS.update(
        {
            "BaselineOnly": ("baseline", {}, lambda seed: s.BaselineOnly(verbose=False)),
            "KNNBaseline item pearson_baseline": (
                "item-knn",
                {"similarity": "pearson_baseline", "centering": "baseline"},
                lambda seed: s.KNNBaseline(
                    sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
                ),
            ),
            # Surprise's SGD visits ratings in data order every epoch; so does this pair.
            "SVD": ("svd", {"shuffle": False}, lambda seed: s.SVD(random_state=seed)),
            "SVD++": ("svdpp", {}, lambda seed: s.SVDpp(random_state=seed)),
            "NMF": ("nmf", {}, lambda seed: s.NMF(random_state=seed)),
        }
    )


def run_rectune(name: str, params: dict, data, test_rows: np.ndarray, seed: int = 0) -> dict:
    mask = np.ones(len(data), bool)
    mask[test_rows] = False
    train, test = data.subset(mask), data.subset(test_rows)
    model = create_model(name, **params)
    t0 = time.perf_counter()
    model.fit(train, train=TrainConfig(seed=seed))
    t1 = time.perf_counter()
    pred = model.predict(test.user_ids, test.item_ids)
    t2 = time.perf_counter()
    err = pred - test.values
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "fit": t1 - t0,
        "test": t2 - t1,
    }


def run_surprise(
    factory: Callable[[int], object],
    frame: pd.DataFrame,
    test_rows: np.ndarray,
    scale: tuple[float, float],
    seed: int = 0,
) -> dict:
    import surprise as s

    mask = np.ones(len(frame), bool)
    mask[test_rows] = False
    reader = s.Reader(rating_scale=scale)
    trainset = s.Dataset.load_from_df(frame[mask], reader).build_full_trainset()
    testset = list(frame.iloc[test_rows].itertuples(index=False, name=None))
    algo = factory(seed)
    t0 = time.perf_counter()
    algo.fit(trainset)
    t1 = time.perf_counter()
    preds = algo.test(testset)
    t2 = time.perf_counter()
    err = np.array([p.est - p.r_ui for p in preds])
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "fit": t1 - t0,
        "test": t2 - t1,
    }


#: Child program of `fresh_first_fit`: build the training set, fit once, print the wall clock.
_FRESH = {
    "rectune": """
import sys, time, json
import numpy as np
from rectune.data import Interactions
from rectune.models import create_model
a = np.load(sys.argv[1])
data = Interactions.from_raw(a["u"], a["i"], a["r"])
create_model(sys.argv[2], **json.loads(sys.argv[3])).fit(data)
print(time.time())
""",
    "surprise": """
import sys, time
import numpy as np, pandas as pd
import surprise as s
a = np.load(sys.argv[1])
frame = pd.DataFrame({"u": a["u"], "i": a["i"], "r": a["r"]})
scale = (float(a["r"].min()), float(a["r"].max()))
train = s.Dataset.load_from_df(frame, s.Reader(rating_scale=scale)).build_full_trainset()
algo = {
    "BaselineOnly": lambda: s.BaselineOnly(verbose=False),
    "KNNBaseline item pearson_baseline": lambda: s.KNNBaseline(
        sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False),
    "SVD": lambda: s.SVD(random_state=0),
    "SVD++": lambda: s.SVDpp(random_state=0),
    "NMF": lambda: s.NMF(random_state=0),
}[sys.argv[2]]()
algo.fit(train)
print(time.time())
""",
}


def fresh_first_fit(lib: str, arrays: str, name: str, runs: int) -> float:
    """Median seconds from spawning a process to the end of its first fit (see module doc)."""
    if lib == "rectune":
        rec, params, _ = PAIRS[name]
        argv = [rec, json.dumps(params)]
    else:
        argv = [name]
    times = []
    for _ in range(runs):
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, "-c", _FRESH[lib], arrays, *argv],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]) - t0)
    return float(np.median(times))


def warm_up(names: list[str]) -> None:
    small = low_rank()
    for name in names:
        rec, params, _ = PAIRS[name]
        create_model(rec, **params).fit(small).predict(small.user_ids, small.item_ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", default="ml-100k,ml-latest-small")
    ap.add_argument("--algos", default=None, help="comma list of pair names (default: all)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", default=None, help="write raw per-fold results here")
    ap.add_argument("--seeds", default="0", help="seeds for randomly initialised algorithms")
    ap.add_argument("--fresh-runs", type=int, default=3, help="fresh-process runs (0: skip)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_surprise_")
    _pairs()
    names = list(PAIRS) if not args.algos else [a.strip() for a in args.algos.split(",")]
    warm_up(names)
    print(f"machine: {machine()}")
    raw: dict = {}
    for ds in args.datasets.split(","):
        data = load(data_dir() / ds)
        frame = pd.DataFrame({"u": data.user_ids, "i": data.item_ids, "r": data.values})
        scale = (float(data.values.min()), float(data.values.max()))
        # rectune's seeded k-fold split: the folds tests/parity checks in CI
        folds = [test for _, test in kfold(data, args.folds, seed=0)]
        print(f"\n## {ds}: {len(data):,} ratings, {args.folds} folds (seed 0)\n")
        train1 = np.ones(len(data), bool)
        train1[folds[0]] = False
        arrays = os.path.join(tmp, f"{ds}.npz")
        np.savez(arrays, u=data.user_ids[train1], i=data.item_ids[train1], r=data.values[train1])
        print(
            "| algorithm | rectune RMSE | Surprise RMSE | rectune MAE | Surprise MAE "
            "| rectune fit+pred s | Surprise fit+pred s | RMSE diff | time ratio "
            "| rectune first fit, fresh process s | Surprise first fit, fresh process s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name in names:
            rec, params, factory = PAIRS[name]
            seeds = [int(x) for x in args.seeds.split(",")] if name in SEEDED else [0]
            ours = [run_rectune(rec, params, data, f, sd) for sd in seeds for f in folds]
            theirs = [run_surprise(factory, frame, f, scale, sd) for sd in seeds for f in folds]
            m_o = {k: float(np.mean([r[k] for r in ours])) for k in ours[0]}
            m_t = {k: float(np.mean([r[k] for r in theirs])) for k in theirs[0]}
            t_o, t_t = m_o["fit"] + m_o["test"], m_t["fit"] + m_t["test"]
            label = name if len(seeds) == 1 else f"{name} (mean of seeds {args.seeds})"
            fresh = "| - | - |"
            if args.fresh_runs > 0:
                f_o = fresh_first_fit("rectune", arrays, name, args.fresh_runs)
                f_t = fresh_first_fit("surprise", arrays, name, args.fresh_runs)
                m_o["fresh_first_fit"], m_t["fresh_first_fit"] = f_o, f_t
                fresh = f"| {f_o:.2f} | {f_t:.2f} |"
            print(
                f"| {label} | {m_o['rmse']:.4f} | {m_t['rmse']:.4f} | {m_o['mae']:.4f} "
                f"| {m_t['mae']:.4f} | {m_o['fit']:.3f}+{m_o['test']:.3f} "
                f"| {m_t['fit']:.2f}+{m_t['test']:.2f} | {m_o['rmse'] - m_t['rmse']:+.4f} "
                f"| 1/{t_t / t_o:.1f} {fresh}",
                flush=True,
            )
            raw.setdefault(ds, {})[name] = {
                "rectune": ours,
                "surprise": theirs,
                "fresh_first_fit": {
                    "rectune": m_o.get("fresh_first_fit"),
                    "surprise": m_t.get("fresh_first_fit"),
                },
            }
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()

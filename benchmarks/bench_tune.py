"""Tuned vs default settings on ML-100K: `rectune.tuning.tune`, choice on validation, test figure.

Usage: python benchmarks/bench_tune.py [--models svd,als,ease,item-knn] [--trials 50]
       [--dataset ml-100k] [--seed 0]

For each model: one random 80/20 train/test split of the dataset (seed 0); `tune` carves a
validation 20% out of the training part, runs ``--trials`` seeded-TPE trials on it (median
pruning per epoch for the SGD model), refits the best config on the whole training part and
scores the test part; the default config (the model's defaults) is fitted and scored on the same
split in the same run. The metric is RMSE for the rating models (svd, item-knn, svdpp, bpmf) and
NDCG@10 for the ranking models (als, ease). The search space of each is
``configs/tune-<model>.toml``. Timers: ``search`` = wall time of all trials (fit on the inner
training rows + validation scoring), ``refit`` = fitting the best config on the training part
and scoring the test part. Writes ``out/tune-<model>.json`` (the ``rectune tune --json``
record, which ``rectune report`` draws) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import optuna
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.tuning import SearchSpace, tune

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "out"
METRIC = {
    "svd": "rmse",
    "item-knn": "rmse",
    "svdpp": "rmse",
    "bpmf": "rmse",
    "als": "ndcg@10",
    "ease": "ndcg@10",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="svd,als,ease,item-knn")
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load(data_dir() / args.dataset)
    OUT.mkdir(exist_ok=True)
    rows = []
    for name in args.models.split(","):
        space = SearchSpace.load(ROOT / "configs" / f"tune-{name}.toml")
        t0 = time.perf_counter()
        res = tune(name, data, space, trials=args.trials, metric=METRIC[name], seed=args.seed)
        wall = time.perf_counter() - t0
        doc = res.to_dict()
        doc["data"]["path"] = args.dataset
        (OUT / f"tune-{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
        m = res.metric
        tuned, default = res.test["tuned"][m], res.test["default"][m]
        rows.append(
            f"| {name} | {m} | {default:.4f} | {tuned:.4f} | {tuned / default - 1:+.2%} | "
            f"{res.best_value:.4f} | {len(res.trials)} ({res.n_pruned} pruned) | "
            f"{res.seconds['search']:.0f} | {res.seconds['refit']:.1f} | {wall:.0f} | "
            f"`{_params(res.best_params)}` |"
        )
        print(rows[-1], flush=True)
    print(
        f"\n{args.dataset}, random 80/20 split seed {args.seed}, {args.trials} trials; "
        f"{machine()}\n"
    )
    print(
        "| model | metric | default (test) | tuned (test) | change | best validation | trials "
        "| search s | refit s | wall s | best params |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def _params(params: dict) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


if __name__ == "__main__":
    main()

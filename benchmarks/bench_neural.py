"""Neural models (NeuMF, two-tower, SASRec) vs ALS, EASE and popularity on ML-100K.

All ratings are interactions (``binarize()``); each user's latest 20% of rows are the test set
(``user_temporal_rows``); every model ranks the full catalogue with seen items excluded;
NDCG@10 and recall@10 are averaged over test users with 95% bootstrap CIs over users. Each
model's hyperparameters are chosen on a validation split carved the same way from the training
rows only (the test rows are never looked at while tuning), then the model is refit on all
training rows with the chosen setting.

Run: ``python benchmarks/bench_neural.py [--quick] [--threads N]`` (writes
``benchmarks/out/neural.md``).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, machine

from rectune.data import load
from rectune.evaluation.compare import paired_bootstrap
from rectune.evaluation.metrics import ranking_metrics
from rectune.evaluation.splits import user_temporal_rows
from rectune.models import MODELS, create_model
from rectune.training.config import TrainConfig

#: Small grids per model (tuned on the validation split only).
GRIDS: dict[str, dict[str, list]] = {
    "popularity": {},
    "ease": {"reg": [100.0, 300.0, 1000.0]},
    "als": {"embedding_size": [64], "reg": [0.1, 1.0], "alpha": [1.0, 5.0], "epochs": [15]},
    "ncf": {
        "embedding_size": [32],
        "layers": [[64, 32, 16]],
        "epochs": [5, 15],
        "learning_rate": [0.002],
        "negatives": [4],
    },
    "two-tower": {
        "embedding_size": [64],
        "layers": [[128]],
        "epochs": [10, 25],
        "temperature": [0.05, 0.1],
        "learning_rate": [0.003],
    },
    "sasrec": {
        "embedding_size": [64],
        "max_length": [50],
        "epochs": [20, 40],
        "loss": ["bce", "ce"],
        "dropout": [0.2],
        "learning_rate": [0.001],
    },
    # The hybrid text model (item text of ML-100K: title, year, genres); rest at defaults.
    "text-hybrid": {"epochs": [20, 40], "max_length": [50]},
}
QUICK = {
    "ncf": {"epochs": [3]},
    "two-tower": {"epochs": [5], "temperature": [0.1]},
    "sasrec": {"epochs": [10], "loss": ["ce"]},
    "als": {"reg": [1.0], "alpha": [5.0]},
    "ease": {"reg": [300.0]},
    "text-hybrid": {"epochs": [20]},
}


def per_user_metrics(model, train, test) -> tuple[np.ndarray, np.ndarray]:
    """NDCG@10 and recall@10 per test user (full catalogue, seen items excluded)."""
    frame = test.to_frame()
    groups = frame.groupby("user_id").item_id.apply(np.asarray)
    users = groups.index.to_numpy()
    ids, _ = model.recommend(users, n=10)
    catalogue = {item: k for k, item in enumerate(np.unique(np.concatenate([
        train.item_ids, test.item_ids])))}  # fmt: skip
    rec = np.array([[catalogue.get(i, -1) for i in row] for row in ids], dtype=np.int64)
    rel = [[catalogue[i] for i in items] for items in groups.to_numpy()]
    out = ranking_metrics(rec, rel, ["ndcg@10", "recall@10"])
    return out["ndcg@10"], out["recall@10"]


def configs(name: str, quick: bool) -> list[dict]:
    grid = dict(GRIDS[name])
    if quick:
        grid.update(QUICK.get(name, {}))
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def available(name: str) -> bool:
    if name not in MODELS:
        return False
    try:
        importlib.import_module(f"rectune.models.{MODELS[name].split(':')[0]}")
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one setting per model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--models", default="popularity,ease,als,ncf,two-tower,sasrec,text-hybrid")
    parser.add_argument(
        "--grid", default=None, help='JSON replacing grids, e.g. {"sasrec": {"epochs": [40]}}'
    )
    args = parser.parse_args()
    if args.grid:
        GRIDS.update(json.loads(args.grid))
    torch.set_num_threads(args.threads)
    data = load(data_dir() / "ml-100k").binarize()
    tr, te = user_temporal_rows(data, 0.2)
    train, test = data.subset(tr), data.subset(te)
    itr, iva = user_temporal_rows(train, 0.2)
    inner, val = train.subset(itr), train.subset(iva)
    seed = TrainConfig(seed=0)
    rows: list[tuple] = []
    per_user: dict[str, np.ndarray] = {}
    tuning: list[str] = []
    for name in args.models.split(","):
        if not available(name):
            print(f"skipping {name}: not importable", file=sys.stderr)
            continue
        best = None
        for params in configs(name, args.quick):
            model = create_model(name, **params).fit(inner, train=seed)
            score = float(per_user_metrics(model, inner, val)[0].mean())
            tuning.append(f"| {name} | `{params}` | {score:.4f} |")
            print(tuning[-1], file=sys.stderr, flush=True)
            if best is None or score > best[0]:
                best = (score, params)
        assert best is not None
        t0 = time.perf_counter()
        model = create_model(name, **best[1]).fit(train, train=seed)
        fit_s = time.perf_counter() - t0
        ndcg, recall = per_user_metrics(model, train, test)
        per_user[name] = ndcg
        rows.append((name, best[1], ndcg, recall, fit_s, best[0]))
    ref = "ease" if "ease" in per_user else next(iter(per_user))
    if "text-hybrid" in per_user:
        lines_pairs = [
            f"| text-hybrid - {b} | {d:+.4f} [{lo:+.4f}, {hi:+.4f}] |"
            for b in ("ease", "sasrec")
            if b in per_user
            for d, lo, hi, _ in [paired_bootstrap(per_user[b], per_user["text-hybrid"])]
        ]
    else:
        lines_pairs = []
    lines = [
        "# Neural models on ML-100K (implicit, per-user temporal 20% holdout)",
        "",
        f"Machine: {machine()}; torch threads {args.threads}; `python benchmarks/bench_neural.py"
        f"{' --quick' if args.quick else ''}`. Full-catalogue ranking, seen items excluded, "
        f"{len(next(iter(per_user.values())))} test users; 95% bootstrap CIs over users; "
        f"settings chosen on a validation split of the training rows.",
        "",
        f"| model | NDCG@10 [95% CI] | recall@10 [95% CI] | delta NDCG vs {ref} [95% CI] | "
        "fit s | val NDCG | setting |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, params, ndcg, recall, fit_s, val in rows:
        _, nlo, nhi, _ = paired_bootstrap(np.zeros_like(ndcg), ndcg)
        _, rlo, rhi, _ = paired_bootstrap(np.zeros_like(recall), recall)
        d, dlo, dhi, _ = paired_bootstrap(per_user[ref], ndcg)
        lines.append(
            f"| {name} | {ndcg.mean():.4f} [{nlo:.4f}, {nhi:.4f}] | {recall.mean():.4f} "
            f"[{rlo:.4f}, {rhi:.4f}] | {d:+.4f} [{dlo:+.4f}, {dhi:+.4f}] | {fit_s:.1f} | "
            f"{val:.4f} | `{params}` |"
        )
    if lines_pairs:
        lines += ["", "Paired NDCG@10 differences, 95% paired bootstrap CI:", "",
                  "| B - A | NDCG@10 |", "|---|---|", *lines_pairs]  # fmt: skip
    lines += ["", "Validation grid:", "", "| model | setting | val NDCG@10 |", "|---|---|---|"]
    lines += tuning
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "neural.md").write_text(text)


if __name__ == "__main__":
    main()

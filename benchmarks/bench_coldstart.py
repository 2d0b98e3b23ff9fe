"""Cold-start users: fold-in vs L2-SP fine-tune vs the bias baseline, with bootstrap CIs.

Usage: python benchmarks/bench_coldstart.py [--dataset ml-100k] [--supports 1,3,5,10]

`rectune.evaluation.splits.cold_user_rows` holds out 20% of the users, each keeping its first
``n_support`` ratings (by time) as support. SVD is fitted on the other users only; then the
support ratings are folded in with `partial_fit` (fold-in), or used to fine-tune with L2-SP
toward the parent (lambda 0.1, one pass at learning rate 0.02: only rows the support touches
move), and compared with the bias baseline fitted on all training rows (support included) and
with SVD retrained from scratch on them. RMSE and NDCG@10 (full catalogue, support items
excluded, every test item relevant) on the cold users' remaining ratings, with 95% bootstrap
confidence intervals over users (1,000 resamples).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.evaluation.metrics import parse_metrics
from rectune.evaluation.splits import cold_user_rows
from rectune.models import create_model
from rectune.online.stream import score_chunk
from rectune.training import TrainConfig

OUT = Path(__file__).parent / "out"
SPECS = parse_metrics(["rmse", "ndcg@10"])


def bootstrap(test, res, rng: np.random.Generator, n_boot: int = 1000) -> dict[str, tuple]:
    """Point estimate and 95% CI of RMSE (per-user SSE resampled) and mean NDCG@10."""
    users, inv = np.unique(test.users, return_inverse=True)
    sse = np.bincount(inv, weights=res.errors**2, minlength=len(users))
    cnt = np.bincount(inv, minlength=len(users)).astype(float)
    nd = res.per_user["ndcg@10"]
    picks = rng.integers(0, len(users), (n_boot, len(users)))
    rmse_b = np.sqrt(sse[picks].sum(1) / cnt[picks].sum(1))
    nd_b = nd[rng.integers(0, len(nd), (n_boot, len(nd)))].mean(1)
    return {
        "rmse": (np.sqrt(sse.sum() / cnt.sum()), *np.percentile(rmse_b, [2.5, 97.5])),
        "ndcg@10": (nd.mean(), *np.percentile(nd_b, [2.5, 97.5])),
    }


def run(data, n_support: int, seed: int) -> dict[str, dict]:
    train_rows, test_rows = cold_user_rows(data, test_size=0.2, n_support=n_support, seed=seed)
    train, test = data.subset(train_rows), data.subset(test_rows)
    cold = np.isin(train.users, np.unique(test.users))
    warm, support = train.subset(~cold), train.subset(cold)
    cfg = TrainConfig(seed=seed)
    parent = create_model("svd").fit(warm, train=cfg)
    models = {}
    models["svd fold-in (partial_fit)"] = copy.deepcopy(parent).partial_fit(support)
    models["svd L2-SP fine-tune"] = copy.deepcopy(parent).finetune(
        support, train=TrainConfig(seed=seed, epochs=1, learning_rate=0.02), strategy="l2sp=0.1"
    )
    models["bias baseline"] = create_model("baseline").fit(train, train=cfg)
    models["svd retrained on all"] = create_model("svd").fit(train, train=cfg)
    models["svd parent (support unused)"] = parent
    rng = np.random.default_rng(seed)
    return {name: bootstrap(test, score_chunk(m, test, SPECS), rng) for name, m in models.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--supports", default="1,3,5,10")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    data = load(data_dir() / args.dataset)
    lines = [
        f"# Cold-start users on {args.dataset}: 20% of users held out, n_support first ratings "
        "kept\n",
        f"Machine: {machine()}. Point estimate [95% bootstrap CI over users], seed {args.seed}.\n",
        "| n_support | method | RMSE | NDCG@10 |",
        "|---|---|---|---|",
    ]
    for k in (int(s) for s in args.supports.split(",")):
        for name, r in run(data, k, args.seed).items():
            rm, nd = r["rmse"], r["ndcg@10"]
            lines.append(
                f"| {k} | {name} | {rm[0]:.4f} [{rm[1]:.4f}, {rm[2]:.4f}] | "
                f"{nd[0]:.4f} [{nd[1]:.4f}, {nd[2]:.4f}] |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "coldstart.md").write_text(text)


if __name__ == "__main__":
    main()

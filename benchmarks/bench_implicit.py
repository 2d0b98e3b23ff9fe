"""rectune vs implicit on implicit feedback: ranking quality, fit time, incremental throughput.

Usage: python benchmarks/bench_implicit.py [--datasets ml-100k,ml-latest-small] [--threads 2]

Every rating becomes an interaction of weight 1; each user's latest 20% of rows are held out
(``rectune.evaluation.splits.user_temporal_rows``). Both libraries rank the full catalogue of
training items with already-seen items filtered; the top-10 lists of both are scored by the
same code (``rectune.evaluation.metrics``). Fit times are the median of ``--repeats`` runs at
the same thread count (implicit ``num_threads`` = numba threads); kernels are warmed up first.
Incremental throughput: the held-out interactions folded into the fitted ALS models, by
implicit's ``partial_fit_users`` (the touched users' full rows) and rectune's ``partial_fit``
(touched items, then touched users), in one batch and in micro-batches.
"""

from __future__ import annotations

import os

# One BLAS thread (implicit warns otherwise); the libraries' own threads are set explicitly.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.models import create_model
from rectune.testing import two_clusters
from rectune.testing.peers import RankingSplit as Split
from rectune.training import TrainConfig

K = 10
#: rectune name -> (rectune model, params); implicit counterpart in `_implicit_models`.
RECTUNE: dict[str, tuple[str, dict]] = {
    "ALS": ("als", {"embedding_size": 64, "epochs": 15, "reg": 0.01, "alpha": 1.0}),
    "BPR": ("bpr", {}),
    # implicit's CosineRecommender(K=20) counts the item itself among its 20 neighbours.
    "item-kNN cosine": ("item-knn", {"similarity": "cosine", "n_neighbors": 19}),
    "EASE": ("ease", {"reg": 500.0}),
    "popularity": ("popularity", {}),
}


def _implicit_models(threads: int, seed: int) -> dict[str, Callable[[], object] | None]:
    from implicit.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender

    return {
        "ALS": lambda: AlternatingLeastSquares(
            factors=64, iterations=15, num_threads=threads, random_state=seed
        ),
        "BPR": lambda: BayesianPersonalizedRanking(num_threads=threads, random_state=seed),
        "item-kNN cosine": lambda: CosineRecommender(K=20, num_threads=threads),
        "EASE": None,
        "popularity": lambda: "popularity",
    }


def run_rectune(name: str, params: dict, s: Split, threads: int, seed: int) -> tuple:
    model = create_model(name, **params)
    t0 = time.perf_counter()
    model.fit(s.train, train=TrainConfig(seed=seed, threads=threads))
    fit = time.perf_counter() - t0
    return s.score(s.rectune_top(model)), fit, model


def run_implicit(factory: Callable[[], object], s: Split) -> tuple:
    model = factory()
    t0 = time.perf_counter()
    if model == "popularity":
        np.asarray(s.user_items.sum(axis=0))  # the counts are the whole "fit"
        fit = time.perf_counter() - t0
        return s.score(s.popularity_top()), fit, None
    model.fit(s.user_items, show_progress=False)  # type: ignore[attr-defined]
    fit = time.perf_counter() - t0
    return s.score(s.implicit_top(model)), fit, model


def throughput(s: Split, threads: int, batch: int | None, items: str) -> tuple[float, float]:
    """Held-out interactions per second folded into fitted ALS models (implicit, rectune)."""
    from implicit.als import AlternatingLeastSquares

    name, params = RECTUNE["ALS"]
    ours = create_model(name, **params, fold_in_items=items)
    ours.fit(s.train, train=TrainConfig(threads=threads))
    theirs = AlternatingLeastSquares(factors=64, iterations=15, num_threads=threads)
    theirs.fit(s.user_items, show_progress=False)
    test = s.test.subset(np.argsort(s.test.timestamps, kind="stable"))
    # implicit's columns for the held-out items (unseen items get new columns).
    col = s.col.copy()
    new = np.unique(test.items[col[test.items] < 0])
    col[new] = len(s.items) + np.arange(len(new))
    n_cols = len(s.items) + len(new)
    cum = s.user_items.copy()
    cum.resize((s.data.n_users, n_cols))
    size = batch or len(test)
    t_ours = t_theirs = 0.0
    train = TrainConfig(threads=threads)
    for lo in range(0, len(test), size):
        part = test.subset(np.arange(lo, min(lo + size, len(test))))
        delta = sp.csr_matrix(
            (np.ones(len(part), np.float32), (part.users, col[part.items])),
            shape=cum.shape,
        )
        cum = cum + delta
        cum.data[:] = 1.0
        users = np.unique(part.users)
        rows = cum[users]
        t0 = time.perf_counter()
        theirs.partial_fit_users(users, rows)
        t_theirs += time.perf_counter() - t0
        t0 = time.perf_counter()
        ours.partial_fit(part, train=train)
        t_ours += time.perf_counter() - t0
    return len(test) / t_theirs, len(test) / t_ours


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", default="ml-100k,ml-latest-small")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--algos", default=None, help="comma list (default: all)")
    args = ap.parse_args()
    names = list(RECTUNE) if not args.algos else [a.strip() for a in args.algos.split(",")]
    # Warm-up: compile every kernel on tiny data.
    tiny = two_clusters().binarize()
    for n in names:
        rec, params = RECTUNE[n]
        small = {k: v for k, v in params.items() if k not in ("embedding_size", "epochs")}
        m = create_model(rec, **small).fit(tiny, train=TrainConfig(threads=args.threads))
        m.recommend(tiny.user_ids[:3], n=3)
        if rec == "als":
            m.partial_fit(tiny.subset(np.arange(5)))
    lines = [f"machine: {machine()}; threads {args.threads}; median of {args.repeats} fits", ""]
    for ds in args.datasets.split(","):
        s = Split(load(data_dir() / ds))
        implicit = _implicit_models(args.threads, args.seed)
        lines += [
            f"## {ds}: {len(s.train):,} train / {len(s.test):,} held-out interactions, "
            f"{len(s.users):,} users, {len(s.items):,} items",
            "",
            f"| algorithm | rectune NDCG@{K} | implicit NDCG@{K} | rectune recall@{K} "
            f"| implicit recall@{K} | rectune fit s | implicit fit s | fit ratio |",
            "|---|---|---|---|---|---|---|---|",
        ]
        print("\n".join(lines[-5:]), flush=True)
        for n in names:
            rec, params = RECTUNE[n]
            ours = [
                run_rectune(rec, params, s, args.threads, args.seed) for _ in range(args.repeats)
            ]
            m_o, f_o = ours[0][0], statistics.median(r[1] for r in ours)
            factory = implicit[n]
            if factory is None:
                m_t, f_t = {f"ndcg@{K}": float("nan"), f"recall@{K}": float("nan")}, float("nan")
            else:
                theirs = [run_implicit(factory, s) for _ in range(args.repeats)]
                m_t, f_t = theirs[0][0], statistics.median(r[1] for r in theirs)
            line = (
                f"| {n} | {m_o[f'ndcg@{K}']:.4f} | {m_t[f'ndcg@{K}']:.4f} "
                f"| {m_o[f'recall@{K}']:.4f} | {m_t[f'recall@{K}']:.4f} "
                f"| {f_o:.3f} | {f_t:.3f} | {f_o / f_t:.2f} |"
            )
            lines.append(line)
            print(line, flush=True)
        lines += [
            "",
            "| ALS update of the held-out rows | implicit partial_fit_users /s "
            "| rectune partial_fit /s | ratio |",
            "|---|---|---|---|",
        ]
        print("\n".join(lines[-3:]), flush=True)
        for batch, items in ((None, "touched"), (None, "new"), (1000, "touched"), (1000, "new")):
            theirs_t, ours_t = throughput(s, args.threads, batch, items)
            label = "one batch" if batch is None else f"batches of {batch:,}"
            label += f", rectune fold_in_items={items}"
            line = f"| {label} | {theirs_t:,.0f} | {ours_t:,.0f} | {ours_t / theirs_t:.2f} |"
            lines.append(line)
            print(line, flush=True)
        lines.append("")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_implicit.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

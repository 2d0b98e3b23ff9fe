"""rectune item-kNN vs implicit's item-item recommenders on implicit feedback.

Usage: python benchmarks/bench_knn_implicit.py [--datasets ml-100k,ml-latest-small]
       [--threads 1,2] [--repeats 3] [--k 20] [--rectune-k 20] [--updates 10]

Every rating becomes an interaction of weight 1 (``Interactions.binarize``); each user's latest
20% of rows are held out (``user_temporal_rows``). implicit's ``CosineRecommender`` /
``TFIDFRecommender`` / ``BM25Recommender`` (``K``) and rectune's ``ItemKNN`` with
``weighting`` none / tfidf / bm25 (``n_neighbors``) rank the full catalogue of training items
with seen items filtered; both top-10 lists are scored by ``rectune.evaluation.metrics``.
Fit times are the median of ``--repeats`` runs at the same thread count (implicit
``num_threads`` = numba threads), after a warm-up that compiles the kernels. Note that
implicit's ``K`` counts the item itself (cosine self-similarity 1 is always kept), so its
``K=20`` keeps 19 other items; rectune's ``n_neighbors`` counts other items only.

``--updates`` also times ``partial_fit`` of rectune's cosine model: the held-out rows in that
many time-ordered batches, each batch's time against a refit of the same model.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numba
import numpy as np
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.models.knn import ItemKNN
from rectune.testing.peers import RankingSplit as Split
from rectune.training import TrainConfig

N = 10
warnings.filterwarnings("ignore", message="Method expects CSR input")
WEIGHTINGS = ("cosine", "tfidf", "bm25")


def implicit_model(weighting: str, k: int, threads: int) -> object:
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

    cls = {"cosine": CosineRecommender, "tfidf": TFIDFRecommender, "bm25": BM25Recommender}
    return cls[weighting](K=k, num_threads=threads)


def rectune_model(weighting: str, k: int) -> ItemKNN:
    return ItemKNN(n_neighbors=k, weighting="none" if weighting == "cosine" else weighting)


def run_implicit(s: Split, weighting: str, k: int, threads: int) -> tuple[float, float]:
    model = implicit_model(weighting, k, threads)
    t0 = time.perf_counter()
    model.fit(s.user_items, show_progress=False)  # type: ignore[attr-defined]
    fit = time.perf_counter() - t0
    return s.score(s.implicit_top(model))[f"ndcg@{N}"], fit


def run_rectune(s: Split, weighting: str, k: int, threads: int) -> tuple[float, float]:
    model = rectune_model(weighting, k)
    t0 = time.perf_counter()
    model.fit(s.train, train=TrainConfig(threads=threads))
    fit = time.perf_counter() - t0
    return s.score(s.rectune_top(model))[f"ndcg@{N}"], fit


def updates(s: Split, k: int, threads: int, n_batches: int) -> tuple[float, float]:
    """Median seconds of one ``partial_fit`` batch and of a refit (cosine)."""
    train = TrainConfig(threads=threads)
    model = rectune_model("cosine", k).fit(s.train, train=train)
    test = s.test.subset(np.argsort(s.test.timestamps, kind="stable"))
    times = []
    for rows in np.array_split(np.arange(len(test)), n_batches):
        t0 = time.perf_counter()
        model.partial_fit(test.subset(rows), train=train)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    rectune_model("cosine", k).fit(s.data, train=train)
    return statistics.median(times), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", default="ml-100k,ml-latest-small")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=20, help="implicit's K")
    ap.add_argument(
        "--rectune-k",
        type=int,
        default=None,
        help="rectune's n_neighbors (default K - 1: implicit's K counts the item itself, "
        "which always takes one of its K slots under cosine and TF-IDF)",
    )
    ap.add_argument("--updates", type=int, default=10, help="partial_fit batches (0: skip)")
    args = ap.parse_args()
    if args.rectune_k is None:
        args.rectune_k = args.k - 1
    threads = [int(t) for t in args.threads.split(",")]
    # warm-up: compile every kernel (fit, score, update) on a small slice
    first = Split(load(data_dir() / args.datasets.split(",")[0]))
    small = first.train.subset(np.arange(2000))
    for w in WEIGHTINGS:
        m = rectune_model(w, args.rectune_k).fit(small)
        m.recommend(small.user_ids[:5], n=5)
        m.partial_fit(first.train.subset(np.arange(2000, 2100)))
    header = [
        f"machine: {machine()}; median of {args.repeats} fits; implicit K={args.k}, "
        f"rectune n_neighbors={args.rectune_k}",
        "",
        "| dataset | weighting | threads | implicit NDCG@10 | rectune NDCG@10 | implicit fit s "
        "| rectune fit s | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines = list(header)
    print("\n".join(header), flush=True)
    upd = ["", "| dataset | threads | partial_fit s per batch | refit s | batch / refit |",
           "|---|---|---|---|---|"]  # fmt: skip
    for ds in args.datasets.split(","):
        s = first if ds == args.datasets.split(",")[0] else Split(load(data_dir() / ds))
        for t in threads:
            numba.set_num_threads(min(t, numba.config.NUMBA_NUM_THREADS))
            for w in WEIGHTINGS:
                ours = [run_rectune(s, w, args.rectune_k, t) for _ in range(args.repeats)]
                theirs = [run_implicit(s, w, args.k, t) for _ in range(args.repeats)]
                f_o = statistics.median(r[1] for r in ours)
                f_t = statistics.median(r[1] for r in theirs)
                line = (
                    f"| {ds} | {w} | {t} | {theirs[0][0]:.4f} | {ours[0][0]:.4f} "
                    f"| {f_t:.4f} | {f_o:.4f} | {f_o / f_t:.2f} |"
                )
                lines.append(line)
                print(line, flush=True)
            if args.updates:
                batch, refit = updates(s, args.rectune_k, t, args.updates)
                upd.append(f"| {ds} | {t} | {batch:.4f} | {refit:.4f} | {batch / refit:.2f} |")
                print(upd[-1], flush=True)
    if args.updates:
        lines += upd
        print("\n".join(upd), flush=True)
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "knn_implicit.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

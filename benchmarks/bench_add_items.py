"""Items added without interactions (`Recommender.add_items`) on MovieLens latest-small.

Usage: python benchmarks/bench_add_items.py [--models als,svd,ease] [--n-boot 1000]

Protocol: 10% of the items (seed 0) are held out with all their ratings; each model is fitted on
the rest. The held-out items then join the fitted model through `add_items` with their launch
text (title with year, genres: what ``rectune update --items movies.csv`` reads; the known
items' text is the catalogue's, user tags stripped) under ``new_ids`` = mean, features (genre
flags, year) and text (ridge map from MiniLM embeddings to the known items' rows). For every
user who rated a held-out item: AUC and NDCG@10 of the held-out items they rated, ranked among
all held-out items (every rating relevant; tied scores, as every item started from the mean
has, in a fixed random order); 95% bootstrap CIs over users; and the RMSE of the
held-out ratings (rating models: SVD ranks by estimated rating, which is not what predicts
which items a user rates, so its AUC says little). ``add s`` is the wall
time of the `add_items` call: for the first text call it includes loading MiniLM and embedding
every item text once (the encoder's cache serves later calls in the process).
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.models import create_model
from rectune.text.item_text import strip_tags

MODELS = {
    "als": {"embedding_size": 64},
    "svd": {"embedding_size": 32, "epochs": 20},
    "ease": {"reg": 500.0},
}


def cold_metrics(model, test, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-user AUC and NDCG@10 of the user's held-out items among all held-out items."""
    users = np.unique(test.user_ids)
    scores = model.score_users_indices(model.user_map_.index_of(users))
    scores = scores[:, model.item_map_.index_of(cand)]
    frame = test.to_frame()
    rated = frame.groupby("user_id")["item_id"].apply(lambda s: s.to_numpy())
    aucs, ndcgs = [], []
    discount = 1 / np.log2(np.arange(2, 12))
    shuffle = np.random.default_rng(1).permutation(len(cand))
    for row, user in enumerate(users):
        pos = np.isin(cand, rated[user])
        if pos.all():
            continue
        s = scores[row]
        p, n = s[pos][:, None], s[~pos][None, :]
        aucs.append(float((p > n).mean() + 0.5 * (p == n).mean()))
        top = shuffle[np.argsort(-s[shuffle], kind="stable")[:10]]  # ties in random order
        ndcgs.append((pos[top] * discount).sum() / discount[: min(10, pos.sum())].sum())
    return np.asarray(aucs), np.asarray(ndcgs)


def ci(values: np.ndarray, rng: np.random.Generator, n_boot: int) -> str:
    boot = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return f"{values.mean():.4f} [{lo:.4f}, {hi:.4f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()
    data = load(data_dir() / "ml-latest-small")
    rng = np.random.default_rng(0)
    items = np.unique(data.items)
    cold = np.sort(rng.choice(items, int(0.1 * len(items)), replace=False))
    is_cold = np.isin(data.items, cold)
    warm, test = data.subset(~is_cold), data.subset(is_cold)
    cand = data.item_map.ids[cold]
    launch = data.item_text.map(strip_tags)  # held-out items: what is known at launch
    rows = [
        "| model | new_ids | users | AUC (cold candidates) | NDCG@10 (cold candidates) "
        "| RMSE held-out ratings | fit s | add s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.models.split(","):
        t0 = time.perf_counter()
        parent = create_model(name, **MODELS[name]).fit(warm)
        fit_s = time.perf_counter() - t0
        for method in ("mean", "features", "text"):
            model = copy.deepcopy(parent)
            t0 = time.perf_counter()
            added = model.add_items(
                cand, item_text=launch, item_features=data.item_features, new_ids=method
            )
            add_s = time.perf_counter() - t0
            assert added == len(cand)
            auc, ndcg = cold_metrics(model, test, cand)
            rmse = "-"
            if model.predicts_ratings:
                err = model.predict(test.user_ids, test.item_ids) - test.values
                rmse = f"{np.sqrt(np.mean(err**2)):.4f}"
            rows.append(
                f"| {name} {MODELS[name]} | {method} | {len(auc)} | {ci(auc, rng, args.n_boot)} "
                f"| {ci(ndcg, rng, args.n_boot)} | {rmse} | {fit_s:.1f} | {add_s:.2f} |"
            )
            print(rows[-1], flush=True)
    text = "\n".join(
        [f"{len(cand)} held-out items, {len(test)} held-out ratings.", "", *rows, "",
         f"Machine: {machine()}."]
    )  # fmt: skip
    print(text)


if __name__ == "__main__":
    main()

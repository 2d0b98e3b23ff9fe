"""Transfer of the text recommender across domains, for few-shot users.

Usage: python benchmarks/bench_transfer.py [--targets ml-100k,lastfm] [--shots 1,5,20]
       [--prior auto|off] [--source DIR]

Source A: MovieLens latest-small (all ratings; item text = title (year) + genres, user tags
stripped so the text looks like the targets'). Target B: MovieLens 100K (a near domain: other
users, an overlapping catalogue, the same text format) or Last.fm HetRec 2011 (a far domain:
artist names + tags, implicit play counts). Each target user keeps their first ``k`` interactions
(by time; Last.fm has no timestamps, so a seeded random order) as B's training data and is tested
on the rest (users with more than ``k`` interactions; B's ids are offset so they never collide
with A's).

Methods, all with the same hyperparameters (frozen MiniLM + adapter + token features, and the
popularity prior of ``--prior``: weights per history-length bucket chosen on held-out training
interactions of whatever data each model is fitted or fine-tuned on, never on test users):
zero-shot (the A-trained model; B's items enter through `partial_fit` from their text and B's
users from their k items, no gradient step on B), fine-tuned (the A-trained model fine-tuned on
B's few-shot rows, 3 epochs), scratch (trained on B's few-shot rows only), and B-popularity.
NDCG@10 and recall@10 ranking B's catalogue (the k support items excluded), with 95% bootstrap
CIs over test users, and paired bootstrap CIs (same users, same resamples) of fine-tuned minus
popularity and fine-tuned minus scratch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _common import data_dir, machine

from rectune.data import Interactions
from rectune.data.loaders import load
from rectune.evaluation.metrics import ranking_metrics
from rectune.models import create_model
from rectune.models.text import TextRecommender
from rectune.registry.artifacts import load_model
from rectune.text.item_text import strip_tags
from rectune.training import TrainConfig

OUT = Path(__file__).parent / "out"
OFFSET = 10_000_000
PARAMS = {
    "encoder": "minilm",
    "max_length": 64,
    "history": 30,
    "epochs": 5,
    "batch_size": 256,
    "popularity_prior": "auto",
}
TARGETS = {"ml-100k": "ml-100k", "lastfm": "lastfm-hetrec2011-2k"}


def source_data() -> Interactions:
    data = load(data_dir() / "ml-latest-small")
    data.item_text = data.item_text.map(strip_tags)
    return data


def target_data(name: str) -> Interactions:
    """The target with user and item ids offset past the source's."""
    data = load(data_dir() / TARGETS[name])
    text = data.item_text.copy()
    text.index = np.asarray(text.index) + OFFSET
    return Interactions.from_raw(
        data.user_ids + OFFSET,
        data.item_ids + OFFSET,
        data.values,
        data.timestamps,
        kind=data.kind,
        item_text=text,
    )


def few_shot(data: Interactions, k: int, seed: int = 0) -> tuple[Interactions, Interactions]:
    """Each user's first k rows (time order, else seeded random) vs the rest (users with more)."""
    rng = np.random.default_rng(seed)
    key = data.timestamps if data.timestamps is not None else rng.permutation(len(data))
    order = np.lexsort((rng.random(len(data)), key, data.users))
    users = data.users[order]
    start = np.searchsorted(users, users, side="left")
    pos = np.empty(len(data), np.int64)
    pos[order] = np.arange(len(data)) - start
    counts = np.bincount(data.users, minlength=data.n_users)
    train = pos < k
    test = ~train & (counts[data.users] > k)
    return data.subset(train), data.subset(test)


def evaluate_on(model, train: Interactions, test: Interactions) -> dict[str, np.ndarray]:
    """Per-user NDCG@10 / recall@10 ranking the target catalogue, support items excluded."""
    users = np.unique(test.users)
    u_idx = model.user_map_.index_of(test.user_map.ids[users])
    catalogue = np.asarray(train.item_text.index)
    cand = model.item_map_.index_of(catalogue)
    cand = np.unique(cand[cand >= 0])
    recs, _ = model.recommend_indices(u_idx, 10, exclude_seen=True, candidates=cand)
    to_data = test.item_map.index_of(model.item_map_.ids)
    recs = np.where(recs >= 0, to_data[np.maximum(recs, 0)], -1)
    rel = sp.csr_matrix(
        (np.ones(len(test)), (np.searchsorted(users, test.users), test.items)),
        shape=(len(users), test.n_items),
    )
    rel.data[:] = 1.0
    return ranking_metrics(recs, rel, ["ndcg@10", "recall@10"])


def ci(values: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> str:
    boot = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return f"{values.mean():.4f} [{lo:.4f}, {hi:.4f}]"


def paired(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> str:
    """Mean of ``a - b`` over the same users with a 95% bootstrap CI."""
    d = a - b
    boot = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return f"{d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default="ml-100k,lastfm")
    ap.add_argument("--shots", default="1,5,20")
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--prior", choices=["auto", "off"], default="auto")
    ap.add_argument("--source", default=None, help="pretrained model dir: reuse or write it")
    args = ap.parse_args()
    PARAMS["popularity_prior"] = args.prior
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    cached = Path(args.source) if args.source else None
    if cached is not None and (cached / "config.json").is_file():
        src = load_model(cached)
        print(f"source model loaded from {cached} (pretraining time below is the load)")
        if src.config.model_dump() != TextRecommender(**PARAMS).config.model_dump():
            raise SystemExit(f"{cached} was pretrained with other settings")
    else:
        src = TextRecommender(**PARAMS).fit(source_data())
        if cached is not None:
            src.save(str(cached))
    pretrain_s = time.perf_counter() - t0
    print(f"pretrained on ml-latest-small in {pretrain_s:.0f}s", flush=True)
    print(f"source prior weights {src.prior_weights_.round(3).tolist()}", flush=True)
    tmp = Path(tempfile.mkdtemp())
    src.save(str(tmp / "source"))
    lines = [
        "## Transfer: pretrain on ml-latest-small, few-shot users in the target",
        "",
        f"Pretraining: {pretrain_s:.0f}s. 95% bootstrap CIs over test users. "
        "zero-shot = A-trained towers, no training on B.",
        "",
        "| target | k | method | users | NDCG@10 | recall@10 | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    deltas = [
        "| target | k | fine-tuned - popularity (NDCG@10) | fine-tuned - scratch (NDCG@10) |",
        "|---|---|---|---|",
    ]
    priors = [f"prior weights per bucket {list(TextRecommender.prior_edges)}+ (source: "
              f"{src.prior_weights_.round(3).tolist()}):"]  # fmt: skip
    for target in args.targets.split(","):
        full = target_data(target)
        for k in (int(s) for s in args.shots.split(",")):
            train, test = few_shot(full, k)
            runs = {}
            t = time.perf_counter()
            runs["popularity"] = (create_model("popularity").fit(train), time.perf_counter() - t)
            t = time.perf_counter()
            zs = load_model(tmp / "source").partial_fit(train)
            runs["zero-shot"] = (zs, time.perf_counter() - t)
            t = time.perf_counter()
            ft = load_model(tmp / "source").finetune(
                train, train=TrainConfig(epochs=args.finetune_epochs)
            )
            runs["fine-tuned"] = (ft, time.perf_counter() - t)
            t = time.perf_counter()
            runs["scratch"] = (TextRecommender(**PARAMS).fit(train), time.perf_counter() - t)
            per_user = {}
            for method, (model, secs) in runs.items():
                pu = per_user[method] = evaluate_on(model, train, test)
                n = len(pu["ndcg@10"])
                lines.append(
                    f"| {target} | {k} | {method} | {n} | {ci(pu['ndcg@10'], rng)} | "
                    f"{ci(pu['recall@10'], rng)} | {secs:.0f} |"
                )
                print(lines[-1], flush=True)
                if method != "popularity":
                    priors.append(
                        f"- {target} k={k} {method}: {model.prior_weights_.round(3).tolist()}"
                    )
            nd = {m: v["ndcg@10"] for m, v in per_user.items()}
            deltas.append(
                f"| {target} | {k} | {paired(nd['fine-tuned'], nd['popularity'], rng)} | "
                f"{paired(nd['fine-tuned'], nd['scratch'], rng)} |"
            )
            print(deltas[-1], flush=True)
    lines += ["", "Paired differences (95% bootstrap CI over the same users):", "", *deltas]
    lines += ["", *priors]
    lines += ["", f"Machine: {machine()}. Hyperparameters: {PARAMS}."]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "transfer.md").write_text(text)


if __name__ == "__main__":
    pd.options.mode.copy_on_write = True
    main()

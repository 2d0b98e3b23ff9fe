"""Cold items on MovieLens latest-small: text models vs TF-IDF content-kNN, MF and popularity.

Usage: python benchmarks/bench_cold_items.py [--methods zero-shot,adapter,...] [--n-boot 1000]

Protocol (`rectune.evaluation.evaluate(split="cold-items")`): 20% of the items (seed 0) are
held out with all their interactions; models are fitted on the rest with the full item text,
except that the cold items keep only title (with year) and genres (their user tags were written
after the hidden interactions and would leak them). NDCG@10 and recall@10 for every test user,
ranking the cold items only and ranking the whole catalogue (``_full``), every held-out
interaction relevant; 95% percentile-bootstrap intervals over users, and paired bootstrap
intervals of the differences (`rectune.evaluation.compare.paired_bootstrap`).

Methods: popularity (cannot rank items it never saw: 0 on cold items by construction), TF-IDF
content-kNN, SVD and ALS (64 or 128 factors) whose cold items start from a ridge map of their
MiniLM text embeddings (``new_ids="text"``), the hybrid text model ``text-hybrid`` with its
default settings, the text model zero-shot (MiniLM, no training: a user is the
rating-weighted mean of their history's vectors), and fine-tuned: frozen MiniLM + adapter and
TF-IDF token features (``adapter``), and LoRA on MiniLM (``lora``, subsampled: CPU budget).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.evaluation import evaluate
from rectune.evaluation.compare import paired_bootstrap
from rectune.models import create_model
from rectune.models.implicit import ALS
from rectune.models.mf import SVD
from rectune.models.text import TextRecommender

OUT = Path(__file__).parent / "out"
METRICS = ["ndcg@10", "recall@10"]

TEXT = {"encoder": "minilm", "max_length": 64, "history": 50}
METHODS: dict[str, tuple[str, dict]] = {
    "popularity": ("popularity", {}),
    "content-knn": ("content-knn", {}),
    "svd+text": ("svd-text", {"embedding_size": 32, "epochs": 20}),
    "als+text": ("als-ridge-text", {"embedding_size": 64}),
    "als128+text": ("als-ridge-text", {"embedding_size": 128}),
    # ALS + a text map trained to rank through the fixed user factors (default settings)
    "als-text": ("als-text", {}),
    "text-hybrid": ("text-hybrid", {}),  # default settings
    "zero-shot": ("text", {**TEXT, "epochs": 0, "token_features": False, "history": 1000}),
    # CPU budget: 3 epochs over 20,000 sampled (user, item) pairs each.
    "adapter": (
        "text",
        {**TEXT, "epochs": 3, "history": 30, "batch_size": 256, "max_pairs": 20000},
    ),
    "lora": (
        "text",
        {
            **TEXT,
            "tuning": "lora",
            "max_length": 32,
            "history": 30,
            "epochs": 2,
            "max_pairs": 6000,
            "batch_size": 128,
        },
    ),
}


class SVDText(SVD):
    """SVD whose items with text but no interactions join by `add_items` (``new_ids="text"``)."""

    def fit(self, data, *, train=None):  # type: ignore[no-untyped-def]
        super().fit(data, train=train)
        self.add_items(np.asarray(data.item_text.index), item_text=data.item_text)
        return self


class ALSRidgeText(ALS):
    """ALS whose items with text but no interactions join by `add_items` (``new_ids="text"``)."""

    def fit(self, data, *, train=None):  # type: ignore[no-untyped-def]
        super().fit(data, train=train)
        self.add_items(np.asarray(data.item_text.index), item_text=data.item_text)
        return self


def make(name: str, params: dict):
    if name == "svd-text":
        return lambda: SVDText(**params)
    if name == "als-ridge-text":
        return lambda: ALSRidgeText(**params)
    if name == "text":
        return lambda: TextRecommender(**params)
    return lambda: create_model(name, **params)


def ci(values: np.ndarray, rng: np.random.Generator, n_boot: int) -> tuple[float, float, float]:
    picks = rng.integers(0, len(values), (n_boot, len(values)))
    boot = values[picks].mean(axis=1)
    return float(values.mean()), *np.percentile(boot, [2.5, 97.5])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load(data_dir() / "ml-latest-small")
    rng = np.random.default_rng(0)
    per_user: dict[str, dict[str, np.ndarray]] = {}
    users_ref = None
    seconds: dict[str, float] = {}
    cost: dict[str, str] = {}
    for label in args.methods.split(","):
        name, params = METHODS[label]
        built: list = []
        factory = make(name, params)
        t0 = time.perf_counter()
        res = evaluate(
            lambda: built.append(factory()) or built[-1],  # noqa: B023
            data,
            split="cold-items",
            test_size=0.2,
            seed=0,
            metrics=METRICS,
        )
        seconds[label] = time.perf_counter() - t0
        model = built[-1]
        if hasattr(model, "epoch_seconds_") and hasattr(model, "trainable_parameters"):
            # Cost row: peak RSS of this process so far (run the model first to isolate it).
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            cost[label] = (
                f"{label}: {model.trainable_parameters():,} trainable parameters, "
                f"{np.mean(model.epoch_seconds_):.1f} s/epoch over {len(model.epoch_seconds_)} "
                f"epochs, fit {res.folds[0].fit_seconds:.0f} s, evaluate wall {seconds[label]:.0f}"
                f" s, peak RSS so far {rss:.0f} MiB"
            )
            print(cost[label], flush=True)
        fold = res.folds[0]
        if users_ref is None:
            users_ref = fold.ranked_users
        assert np.array_equal(users_ref, fold.ranked_users)
        per_user[label] = fold.per_user
        print(f"{label}: {res.mean} ({seconds[label]:.0f}s)", flush=True)

    keys = [f"{m}{s}" for s in ("", "_full") for m in METRICS]
    lines = [
        "## Cold items: MovieLens latest-small, 20% of items held out (seed 0)",
        "",
        f"{len(users_ref)} test users; 95% bootstrap CIs over users ({args.n_boot} resamples). "
        "Cold items' text: title (year) + genres. `_full`: ranking the whole catalogue.",
        "",
        "| method | " + " | ".join(keys) + " | seconds |",
        "|---|" + "---|" * (len(keys) + 1),
    ]
    for label, pu in per_user.items():
        cells = []
        for k in keys:
            mean, lo, hi = ci(pu[k], rng, args.n_boot)
            cells.append(f"{mean:.4f} [{lo:.4f}, {hi:.4f}]")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {seconds[label]:.0f} |")
    pairs = [
        ("zero-shot", "popularity"),
        ("adapter", "zero-shot"),
        ("adapter", "content-knn"),
        ("lora", "zero-shot"),
        ("lora", "content-knn"),
        ("adapter", "svd+text"),
        ("adapter", "als+text"),
        ("text-hybrid", "als+text"),
        ("text-hybrid", "als128+text"),
        ("text-hybrid", "adapter"),
        ("text-hybrid", "content-knn"),
        ("als-text", "als+text"),
        ("als-text", "als128+text"),
        ("als-text", "adapter"),
        ("als-text", "content-knn"),
    ]
    lines += [
        "",
        "Paired differences (B - A), 95% paired bootstrap CI:",
        "",
        "| B - A | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for b, a in pairs:
        if a in per_user and b in per_user:
            cells = []
            for k in keys:
                d, lo, hi, _ = paired_bootstrap(
                    per_user[a][k], per_user[b][k], n_boot=args.n_boot, rng=rng
                )
                cells.append(f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            lines.append(f"| {b} - {a} | " + " | ".join(cells) + " |")
    lines += ["", *[f"Cost: {c}" for c in cost.values()]]
    lines += ["", f"Machine: {machine()}; methods: {', '.join(per_user)}."]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "cold_items.md").write_text(text)


if __name__ == "__main__":
    main()

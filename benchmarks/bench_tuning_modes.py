"""Frozen encoder + adapter vs LoRA vs full fine-tuning of the text recommender, on one task.

Usage: python benchmarks/bench_tuning_modes.py [--pairs 4000] [--epochs 2]

Task: MovieLens latest-small, random 80/20 split of the ratings (seed 0), NDCG@10 over the whole
catalogue for every test user (seen items excluded, every test rating relevant), 95% bootstrap
CI over users. Every mode gets the same budget (CPU, 2 shared cores): ``--pairs`` training pairs
sampled per epoch, ``--epochs`` epochs, batch 128, max_length 32 tokens, history 30, MiniLM.
Each mode runs in its own subprocess, so the peak resident memory (``ru_maxrss`` of the child)
is that mode's; seconds per epoch (training passes only, not the initial catalogue encoding)
include lora/full's per-epoch refresh of the history vectors.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import data_dir, machine

OUT = Path(__file__).parent / "out"
MODES = ("frozen", "lora", "full")


def child(mode: str, pairs: int, epochs: int, out: str) -> None:
    from rectune.data.loaders import load
    from rectune.evaluation import evaluate
    from rectune.models.text import TextRecommender

    data = load(data_dir() / "ml-latest-small")
    params = {
        "encoder": "minilm",
        "tuning": mode,
        "max_length": 32,
        "history": 30,
        "epochs": epochs,
        "max_pairs": pairs,
        "batch_size": 128,
    }
    made: list[TextRecommender] = []

    def make() -> TextRecommender:
        made.append(TextRecommender(**params))
        return made[-1]

    res = evaluate(make, data, split="random", test_size=0.2, seed=0, metrics=["ndcg@10"])
    fold = res.folds[0]
    model = made[-1]
    total = sum(p.numel() for p in model.module_.parameters())
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(out, fold.per_user["ndcg@10"])
    print(
        json.dumps(
            {
                "mode": mode,
                "ndcg": float(fold.metrics["ndcg@10"]),
                "trainable": model.trainable_parameters(),
                "total": total,
                "fit_seconds": fold.fit_seconds,
                "sec_per_epoch": float(np.mean(model.epoch_seconds_)),
                "peak_rss_mb": rss_kb / 1024,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--child", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.pairs, args.epochs, args.out)
        return
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for mode in args.modes.split(","):
        out = tmp / f"{mode}.npy"
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", mode, "--out", str(out)]
        cmd += ["--pairs", str(args.pairs), "--epochs", str(args.epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info["wall"] = time.perf_counter() - t0
        per_user = np.load(out)
        boot = per_user[rng.integers(0, len(per_user), (1000, len(per_user)))].mean(axis=1)
        info["ci"] = tuple(np.percentile(boot, [2.5, 97.5]))
        rows.append(info)
        print(info, flush=True)
    lines = [
        "## Tuning modes: frozen + adapter vs LoRA vs full (ml-latest-small, random 80/20)",
        "",
        f"Budget per mode: {args.pairs} sampled training pairs per epoch, {args.epochs} epochs, "
        "batch 128, max_length 32, MiniLM-L6. NDCG@10 over the full catalogue, 95% bootstrap "
        "CI over users; peak RSS of the mode's own process.",
        "",
        "| mode | NDCG@10 | trainable params | total params | s/epoch | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["ci"]
        lines.append(
            f"| {r['mode']} | {r['ndcg']:.4f} [{lo:.4f}, {hi:.4f}] | {r['trainable']:,} | "
            f"{r['total']:,} | {r['sec_per_epoch']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    lines += ["", f"Machine: {machine()} (shared with other jobs: timings are noisy)."]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "tuning_modes.md").write_text(text)


if __name__ == "__main__":
    main()

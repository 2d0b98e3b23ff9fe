"""Fit time and peak memory of `svd` and `item-knn` as data grows (recorded, not a test).

Usage: python benchmarks/bench_scaling.py [--sizes 1000000,10000000] [--models svd,item-knn]

Synthetic data of 100K users and 20K items is generated once per size and cached as .npz in
benchmarks/out/. Each fit runs in a fresh subprocess that loads the cached arrays, warms the
numba kernels on a tiny dataset, then fits; peak memory is that process's maximum resident set
size minus its size just before the fit.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def ensure_data(n: int) -> Path:
    from rectune.data.synthetic import generate

    path = OUT / f"synthetic_{n}.npz"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        d = generate(
            n_users=100_000,
            n_items=20_000,
            n_interactions=n,
            seed=0,
            with_text=False,
            with_features=False,
        )
        np.savez(path, users=d.user_ids, items=d.item_ids, values=d.values)
        print(f"generated {len(d):,} ratings in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return path


def child(path: str, model: str) -> None:
    from rectune import Interactions
    from rectune.models import create_model
    from rectune.testing import low_rank

    with np.load(path) as z:
        data = Interactions.from_raw(z["users"], z["items"], z["values"])
    create_model(model).fit(low_rank())  # compile / load cached kernels
    base = rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    create_model(model).fit(data)
    fit = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "fit_seconds": fit,
                "peak_mb": peak,
                "rss_before_mb": base,
                "fit_peak_extra_mb": max(peak, peak_before) - base,
                "n": len(data),
                "users": int(data.n_users),
                "items": int(data.n_items),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--models", default="svd,item-knn")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    print("| model | ratings | users | items | fit s | peak RSS MB | peak above data MB |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        path = ensure_data(n)
        for model in args.models.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path), model],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {model} | {r['n']:,} | {r['users']:,} | {r['items']:,} | "
                f"{r['fit_seconds']:.2f} | {r['peak_mb']:.0f} | {r['fit_peak_extra_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

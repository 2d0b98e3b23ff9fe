"""Cost of every text-model mode with its DEFAULT settings (issue 10, "Cost table").

Usage: nice -n 19 python benchmarks/bench_text_cost.py [--modes frozen,lora,full,text-user]

Each mode runs ``rectune.evaluation.evaluate`` (what ``rectune evaluate`` runs) on
ml-latest-small with ``--split cold-items --test-size 0.2 --seed 0`` in its own subprocess, at
``nice 19``, so the figures are that mode's alone:

- trainable parameters: `TextRecommender.trainable_parameters` of the fitted model;
- s/epoch: mean wall time of a training epoch (batches, plus lora/full's catalogue refresh);
- peak RSS: ``ru_maxrss`` of the child process (``os.wait4``), imports and data included;
- evaluate s: wall time of the ``evaluate`` call (data loaded before it; fit + scoring);
- process s: wall time of the whole child (interpreter start, imports, loading, evaluate), the
  closest to a user's ``rectune evaluate`` command;
- CPU s: user + system CPU seconds of the whole child (``os.wait4``), every thread: the figure
  that does not depend on what else the shared machine runs. Torch uses both cores, so on an
  otherwise idle 2-core machine the wall time is about CPU s / 2 (at most CPU s);
- NDCG@10 / recall@10 over the cold candidates, NDCG@10 over the full catalogue, each with a
  95% bootstrap CI over test users (1,000 resamples, seed 0).

A mode's parameters are only what differs from the defaults (``epochs=0`` is zero-shot). Add a
row by adding an entry to `MODES` (model name, parameters).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import data_dir, machine

#: mode -> (registered model name, parameters that differ from the defaults).
MODES: dict[str, tuple[str, dict[str, Any]]] = {
    "frozen": ("text", {}),
    "lora": ("text", {"tuning": "lora"}),
    "full": ("text", {"tuning": "full"}),
    "text-user": ("text", {"user_tower": "text"}),
    "zero-shot": ("text", {"epochs": 0}),
}
METRICS = ("ndcg@10", "recall@10", "ndcg@10_full")


def child(mode: str, out: str) -> None:
    import logging

    from rectune.data.loaders import load
    from rectune.evaluation import evaluate
    from rectune.models import create_model

    logging.basicConfig(level=logging.WARNING)
    name, params = MODES[mode]
    data = load(data_dir() / "ml-latest-small")
    made: list[Any] = []

    def make() -> Any:
        made.append(create_model(name, **params))
        return made[-1]

    t0 = time.perf_counter()
    res = evaluate(make, data, split="cold-items", test_size=0.2, seed=0,
                   metrics=["ndcg@10", "recall@10"])  # fmt: skip
    seconds = time.perf_counter() - t0
    fold, model = res.folds[0], made[-1]
    np.savez(out, **{m: fold.per_user[m] for m in METRICS})
    epochs = getattr(model, "epoch_seconds_", [])
    trainable = model.trainable_parameters() if hasattr(model, "trainable_parameters") else None
    cfg = model.config
    print(json.dumps({
        "mode": mode,
        "metrics": {m: float(fold.metrics[m]) for m in METRICS},
        "trainable": trainable,
        "epochs": cfg.run_epochs() if hasattr(cfg, "run_epochs") else None,
        "pairs": cfg.pairs_per_epoch() if hasattr(cfg, "pairs_per_epoch") else None,
        "sec_per_epoch": float(np.mean(epochs)) if epochs else 0.0,
        "fit_seconds": fold.fit_seconds,
        "evaluate_seconds": seconds,
    }))  # fmt: skip


def _ci(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    boot = values[rng.integers(0, len(values), (1000, len(values)))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--child", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.out)
        return
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for mode in args.modes.split(","):
        rows.append(run_measured(mode, tmp))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))


def run_measured(mode: str, tmp: Path) -> dict[str, Any]:
    """`run` with the child's own peak RSS (``os.wait4`` on its pid)."""
    out = tmp / f"{mode}.npz"
    cmd = ["nice", "-n", "19", sys.executable, __file__, "--child", mode, "--out", str(out)]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read(), se.read()
    if proc.returncode:
        raise RuntimeError(f"{mode} failed:\n{stderr[-3000:]}")
    info = json.loads(stdout.strip().splitlines()[-1])
    info["process_seconds"] = wall
    info["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    info["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    info["load"] = (load0, os.getloadavg()[0])
    info["warned"] = [ln for ln in stderr.splitlines() if "estimated" in ln]
    rng = np.random.default_rng(0)
    with np.load(out) as per_user:
        info["ci"] = {m: _ci(per_user[m], rng) for m in METRICS}
    return info


def table(rows: list[dict[str, Any]]) -> str:
    def cell(r: dict[str, Any], m: str) -> str:
        lo, hi = r["ci"][m]
        return f"{r['metrics'][m]:.4f} [{lo:.4f}, {hi:.4f}]"

    lines = [
        "| mode | epochs x pairs | trainable params | s/epoch | peak RSS MB | evaluate s | "
        "process s | CPU s | NDCG@10 cold | recall@10 cold | NDCG@10 full | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pairs = "all" if r["pairs"] is None else f"{r['pairs']:,}"
        lines.append(
            f"| {r['mode']} | {r['epochs']} x {pairs} | {r['trainable'] or 0:,} | "
            f"{r['sec_per_epoch']:.1f} | {r['peak_rss_mb']:.0f} | {r['evaluate_seconds']:.0f} | "
            f"{r['process_seconds']:.0f} | {r['cpu_seconds']:.0f} | {cell(r, 'ndcg@10')} | "
            f"{cell(r, 'recall@10')} | "
            f"{cell(r, 'ndcg@10_full')} | {r['load'][0]:.1f}-{r['load'][1]:.1f} |"
        )
    lines += ["", f"Machine: {machine()} (shared with other jobs: timings are noisy)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

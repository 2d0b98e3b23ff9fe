"""Compression: artifact size, load time, recommend latency and the accuracy cost, paired.

Usage: nice -n 19 python benchmarks/bench_compress.py [--datasets ml-100k,ml-latest-small]
       [--models svd,als,ease,item-knn,two-tower,text] [--n-boot 1000] [--out FILE.json]
       [--variants LABEL,LABEL]

Each model is fitted once per dataset on each user's earliest 80% of rows (the per-user
temporal split, ``user_temporal_rows``), saved, and compressed from that artifact with
`rectune.compression.compress_artifact`; the original and every compressed artifact are then
loaded from disk and scored by `rectune.evaluation.compare.compare` on the same held-out 20%:
NDCG@10 per test user (and RMSE per test rating for the rating models), the paired delta
(compressed - original) with its 95% bootstrap CI (`paired_bootstrap`, ``--n-boot``
replicates, the same resampled users for both). svd and item-knn train on the ratings; als,
ease, two-tower and the text model on the ratings binarized (weight 1), as in
bench_implicit.py. Distilled students are also compared with the teacher: ``kept`` is
student NDCG@10 / teacher NDCG@10.

Timers (``time.perf_counter``, one process, models warmed by one call first):
``load``: median of 5 ``rectune.load`` of the directory (manifest checksums, decoding, the
model's own caches; the text model's item embeddings come from the process-wide encoder cache
after the first load); ``single``: median over 200 ``recommend([u], n=10)`` calls of random test
users; ``batch``: median of 3 ``recommend(test_users, n=10)`` over every test user at once.
``bytes``: the artifact directory's files on disk; ``x`` = original bytes / these bytes.
The ``lossless`` row is the original model stored with only the lossless packing a compressed
artifact applies to the rest of its state (varint seen matrix and ids, deflate, ...): the
compressed rows' ``x`` over it is what the lossy codecs (or the student) add.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import data_dir, machine

import rectune
from rectune.compression import compress_artifact, directory_bytes
from rectune.data.loaders import load
from rectune.evaluation.compare import compare
from rectune.evaluation.splits import split_rows
from rectune.models import create_model
from rectune.registry.codecs import pack_plan
from rectune.training import TrainConfig

TEXT = {"encoder": "minilm", "max_length": 32, "history": 30, "epochs": 1, "max_pairs": 20000}
#: name -> (model, params, binarize, rating metric)
MODELS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "svd": ("svd", {"embedding_size": 100, "epochs": 20}, False),
    "item-knn": ("item-knn", {"similarity": "pearson_baseline", "centering": "baseline"}, False),
    "als": ("als", {"embedding_size": 64, "epochs": 15, "reg": 0.01, "alpha": 1.0}, True),
    "ease": ("ease", {"reg": 500.0}, True),
    "two-tower": ("two-tower", {"embedding_size": 64, "epochs": 10}, True),
    "text": ("text", TEXT, True),
}
DISTILL = {"top_k": 10, "params": {"embedding_size": 32, "epochs": 15}}  # chosen on validation
DISTILL16 = {"top_k": 10, "params": {"embedding_size": 16, "epochs": 15}}
DISTILL64 = {"top_k": 10, "params": {"embedding_size": 64, "epochs": 15}}
#: name -> the compressions run on it: (label, method, options)
VARIANTS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "svd": [("int8", "int8", {}), ("fp16", "fp16", {})],
    "item-knn": [
        ("prune top-200", "prune", {"top_k": 200}),
        ("prune top-100", "prune", {"top_k": 100}),
        ("prune top-50", "prune", {"top_k": 50}),
    ],
    "als": [("int8", "int8", {}), ("fp16", "fp16", {})],
    "ease": [
        ("int8", "int8", {}),
        ("prune 10%", "prune", {"keep_fraction": 0.1}),
        ("distill als-32", "distill", DISTILL),
        ("distill als-32 int8", "distill", {**DISTILL, "quantize": "int8"}),
        # 64 factors: the best on ml-latest-small's validation split (kept 95.1% vs 93.2%)
        ("distill als-64 int8", "distill", {**DISTILL64, "quantize": "int8"}),
    ],
    "two-tower": [
        ("int8", "int8", {}),
        ("distill als-32", "distill", DISTILL),
        # chosen on ML-100K validation (distill_validation.py): kept 103.1% at 14.9x there
        ("distill als-32 int8", "distill", {**DISTILL, "quantize": "int8"}),
        ("distill als-16 int8", "distill", {**DISTILL16, "quantize": "int8"}),
    ],
    "text": [
        ("int8", "int8", {}),
        ("distill als-32 int8", "distill", {**DISTILL, "quantize": "int8"}),
    ],
}


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _timings(path: Path, users: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    rectune.load(path)  # warm: imports, kernels, encoder cache
    load_s = _median_time(lambda: rectune.load(path), 5)
    model = rectune.load(path)
    model.recommend(users[:1], n=10)
    picks = rng.choice(users, size=200)
    singles = []
    for u in picks:
        t0 = time.perf_counter()
        model.recommend([u], n=10)
        singles.append(time.perf_counter() - t0)
    batch = _median_time(lambda: model.recommend(users, n=10), 3)
    return {"load_ms": load_s * 1e3, "single_ms": statistics.median(singles) * 1e3,
            "batch_ms": batch * 1e3}  # fmt: skip


def _row(label: str, path: Path, base_bytes: int, cmp: Any, timing: dict[str, float]) -> dict:
    out: dict[str, Any] = {"variant": label, "bytes": directory_bytes(path), **timing}
    out["x"] = base_bytes / out["bytes"]
    if cmp is not None:
        for name, m in cmp.metrics.items():
            out[name] = {k: m[k] for k in ("a", "b", "delta", "ci_low", "ci_high", "n")}
    return out


def run(
    dataset: str, names: list[str], n_boot: int, root: Path, only: str | None = None
) -> list[dict[str, Any]]:
    data = load(data_dir() / dataset)
    ((tr, te),) = split_rows(data, "user-temporal", test_size=0.2)
    rows = []
    for name in names:
        model_name, params, binarize = MODELS[name]
        d = data.binarize() if binarize else data
        train, test = d.subset(tr), d.subset(te)
        metrics = ["ndcg@10"] if binarize else ["rmse", "ndcg@10"]
        users = np.unique(test.user_ids)
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        model = create_model(model_name, **params).fit(train, train=TrainConfig(seed=0))
        fit_s = time.perf_counter() - t0
        src = root / dataset / name / "original"
        model.save(src)
        del model
        base = directory_bytes(src)
        print(f"{dataset} {name}: fitted in {fit_s:.1f}s, {base:,} bytes", flush=True)
        rows.append({"dataset": dataset, "model": name, "fit_s": fit_s,
                     **_row("original", src, base, None, _timings(src, users, rng))})  # fmt: skip
        for label, method, options in [("lossless", "lossless", {}), *VARIANTS[name]]:
            if only is not None and label not in only.split(","):
                continue
            out = root / dataset / name / label.replace(" ", "_")
            t0 = time.perf_counter()
            rec = (
                _lossless(src, out)
                if method == "lossless"
                else compress_artifact(src, out, method, **options)
            )
            comp_s = time.perf_counter() - t0
            cmp = compare(src, out, test, metrics=metrics, n_boot=n_boot, seed=0)
            row = {"dataset": dataset, "model": name, "compress_s": comp_s,
                   **_row(label, out, base, cmp, _timings(out, users, rng))}  # fmt: skip
            if method == "distill":
                ndcg = cmp.metrics["ndcg@10"]
                row["kept"] = ndcg["b"] / ndcg["a"] if ndcg["a"] else None
            row["params_ratio"] = rec["ratio"]
            rows.append(row)
            print(json.dumps(_short(row)), flush=True)
    return rows


def _lossless(src: Path, out: Path) -> dict[str, Any]:
    """The original model saved with only the lossless codecs of a compressed artifact
    (`pack_plan`: varint, const, recomputed arrays, deflate, varint ids): the peer that shows
    what the lossy codecs add beyond packing."""
    model = rectune.load(src)
    state = model.get_state()
    plan = pack_plan(state)
    if "gram" in state:
        plan["gram"] = "seen_gram"  # EASE's Gram matrix: recomputed, as int8 EASE does
    model.compression_ = {"method": "lossless", "options": {}, "storage": plan}
    model.save(out, parent=src)
    b0 = sum(np.asarray(v).nbytes for v in state.values())
    return {"ratio": b0 / max(1, directory_bytes(out))}


def _short(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
           if not isinstance(v, dict)}  # fmt: skip
    for name in ("ndcg@10", "rmse"):
        if name in row:
            m = row[name]
            out[name] = [round(m[k], 4) for k in ("a", "b", "delta", "ci_low", "ci_high")]
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The RESULTS.md table of ``rows``."""
    head = ("| data | model | variant | bytes | x | x vs lossless | load ms | 1-user ms | "
            "batch ms | NDCG@10 (orig -> comp) | delta [95% CI] | rel. | "
            "RMSE delta [95% CI] |")  # fmt: skip
    lines = [head, "|" + "---|" * 13]
    packed = {(r["dataset"], r["model"]): r["bytes"] for r in rows if r["variant"] == "lossless"}
    for r in rows:
        ref = packed.get((r["dataset"], r["model"]))
        vs = f"{ref / r['bytes']:.2f}" if ref and r["variant"] != "original" else ""
        nd, rm = r.get("ndcg@10"), r.get("rmse")
        nd_txt = f"{nd['a']:.4f} -> {nd['b']:.4f}" if nd else ""
        ci = f"{nd['delta']:+.4f} [{nd['ci_low']:+.4f}, {nd['ci_high']:+.4f}]" if nd else ""
        rel = f"{nd['delta'] / nd['a']:+.2%}" if nd and nd["a"] else ""
        if "kept" in r and r["kept"] is not None:
            rel += f" (kept {r['kept']:.1%})"
        rm_txt = (f"{rm['a']:.4f} -> {rm['b']:.4f}: {rm['delta']:+.5f} "
                  f"[{rm['ci_low']:+.5f}, {rm['ci_high']:+.5f}]") if rm else ""  # fmt: skip
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['variant']} | {r['bytes']:,} | {r['x']:.2f} | "
            f"{vs} | {r['load_ms']:.1f} | {r['single_ms']:.2f} | {r['batch_ms']:.0f} | "
            f"{nd_txt} | {ci} | {rel} | {rm_txt} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="ml-100k,ml-latest-small")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", default=None, help="Write every row as JSON here.")
    ap.add_argument("--variants", default=None, help="Only these variant labels (comma list).")
    args = ap.parse_args()
    print(machine(), flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-compress-") as tmp:
        for dataset in args.datasets.split(","):
            rows += run(dataset, args.models.split(","), args.n_boot, Path(tmp), args.variants)
            if args.out:
                Path(args.out).write_text(json.dumps(rows, indent=1, default=float) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()

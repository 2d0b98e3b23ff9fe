"""Choose distillation students on a validation split carved from the training rows.

Usage: nice -n 10 python benchmarks/distill_validation.py [--dataset ml-100k] [--teacher two-tower]
       [--ranks 8,16,32] [--top-k 10,20] [--quantize int8] [--out FILE.json]

The data is split as in bench_compress.py (each user's earliest 80% of rows = training); the
training part is split again the same way (its earliest 80% = fit, the rest = validation), so the
test rows are never read. The teacher (bench_compress.py's settings) is fitted on the fit part,
saved, and distilled into ALS students of each rank and ``top_k`` (int8 tables by default);
each row reports the student's artifact bytes, ``x`` = teacher bytes / student bytes and
``kept`` = student NDCG@10 / teacher NDCG@10 on the validation rows (`compare`, 200 bootstrap
replicates: the CI is not used for the choice).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from _common import data_dir, machine
from bench_compress import MODELS

from rectune.compression import compress_artifact, directory_bytes
from rectune.data.loaders import load
from rectune.evaluation.compare import compare
from rectune.evaluation.splits import split_rows
from rectune.models import create_model
from rectune.training import TrainConfig


def run(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    model_name, params, binarize = MODELS[args.teacher]
    data = load(data_dir() / args.dataset)
    data = data.binarize() if binarize else data
    ((tr, _te),) = split_rows(data, "user-temporal", test_size=0.2)
    train = data.subset(tr)
    ((fit_rows, val_rows),) = split_rows(train, "user-temporal", test_size=0.2)
    fit, val = train.subset(fit_rows), train.subset(val_rows)
    teacher = create_model(model_name, **params).fit(fit, train=TrainConfig(seed=0))
    src = root / "teacher"
    teacher.save(src)
    base = directory_bytes(src)
    rows = []
    for rank in (int(r) for r in args.ranks.split(",")):
        for top_k in (int(k) for k in args.top_k.split(",")):
            opts: dict[str, Any] = {"top_k": top_k,
                                    "params": {"embedding_size": rank, "epochs": 15}}  # fmt: skip
            if args.quantize != "none":
                opts["quantize"] = args.quantize
            out = root / f"als-{rank}-top{top_k}"
            compress_artifact(src, out, "distill", **opts)
            cmp = compare(src, out, val, metrics=["ndcg@10"], n_boot=200, seed=0)
            nd = cmp.metrics["ndcg@10"]
            row = {"dataset": args.dataset, "teacher": args.teacher, "rank": rank,
                   "top_k": top_k, "quantize": args.quantize, "bytes": directory_bytes(out),
                   "x": base / directory_bytes(out), "teacher_ndcg": nd["a"],
                   "student_ndcg": nd["b"], "kept": nd["b"] / nd["a"]}  # fmt: skip
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                              for k, v in row.items()}), flush=True)  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--teacher", default="two-tower", choices=sorted(MODELS))
    ap.add_argument("--ranks", default="8,16,32")
    ap.add_argument("--top-k", default="10,20")
    ap.add_argument("--quantize", default="int8", choices=("int8", "fp16", "none"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="distill-val-") as tmp:
        rows = run(args, Path(tmp))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()

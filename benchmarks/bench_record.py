"""Validation RMSE of rating-model variants on ML-100K, for choices that never see test rows.

Usage: python benchmarks/bench_record.py SPEC [SPEC ...] [--dataset ml-100k] [--seed 0]

Each SPEC is a JSON object ``{"model": NAME, ...hyperparameters}`` (a blend's members
included). The split is the one `rectune tune` uses: a random 80/20 train/test split (seed
``--seed``), then a validation 20% carved out of the training part (seed ``--seed + 1``); each
spec is fitted on the inner training rows and scored on the validation rows. The test rows are
never read. Timer: ``seconds`` = fit + validation scoring of one spec. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import data_dir, machine

from rectune.data.loaders import load
from rectune.evaluation.splits import split_rows
from rectune.models import create_model
from rectune.training.config import TrainConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("specs", nargs="+", help='JSON model specs, e.g. {"model": "bpmf"}')
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    data = load(data_dir() / args.dataset)
    train_rows, _ = next(split_rows(data, "random", test_size=0.2, seed=args.seed))
    train = data.subset(train_rows)
    fit_rows, val_rows = next(split_rows(train, "random", test_size=0.2, seed=args.seed + 1))
    fit_part, val = train.subset(fit_rows), train.subset(val_rows)
    print(f"# {machine()}; {len(fit_part)} fit rows, {len(val)} validation rows")
    print("| spec | validation RMSE | seconds |\n|---|---|---|")
    for raw in args.specs:
        spec = json.loads(raw)
        t0 = time.perf_counter()
        model = create_model(spec.pop("model"), **spec).fit(
            fit_part, train=TrainConfig(seed=args.seed)
        )
        pred = model.predict(val.user_ids, val.item_ids)
        rmse = float(np.sqrt(np.mean((pred - val.values) ** 2)))
        print(f"| `{raw}` | {rmse:.4f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()

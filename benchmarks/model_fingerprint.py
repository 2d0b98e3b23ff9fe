"""Numbers every registered model produces on a fixed-seed synthetic set, dumped as JSON.

Usage: python benchmarks/model_fingerprint.py OUT.json [--models svd,als] [--compare OLD.json]

For each model (small settings): fit on the earliest 70% of a synthetic data set (by time),
then record predictions on fixed (user, item) pairs (known and unknown ids), the top-10 of a
few users (one unknown), RMSE on the last 15%, and the same after `partial_fit` and after
`finetune` on the middle 15% (new users and items included) and after a save/load round trip.
SVD also records `prequential` and `learn_one`. With ``--compare`` every number is checked
against an earlier dump (tolerance 1e-6) and the differences are listed: the restructure of
issue 7 must not change any of them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# One BLAS thread: multi-threaded float32 products are not bit-reproducible across runs.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rectune.data.interactions import Interactions  # noqa: E402
from rectune.data.synthetic import generate  # noqa: E402
from rectune.models import MODELS, create_model  # noqa: E402
from rectune.registry import load_model  # noqa: E402
from rectune.training.config import TrainConfig  # noqa: E402

#: Small settings per model (defaults elsewhere).
PARAMS: dict[str, dict[str, Any]] = {
    "user-knn": {"n_neighbors": 10},
    "item-knn": {"n_neighbors": 10},
    "svd": {"epochs": 5, "embedding_size": 8},
    "svdpp": {"epochs": 5, "embedding_size": 8},
    "nmf": {"epochs": 10, "embedding_size": 5},
    "bpmf": {"embedding_size": 3, "iterations": 12, "burn_in": 4, "keep": 4},
    "als": {"embedding_size": 8, "epochs": 5, "alpha": 2.0, "reg": 0.1},
    "bpr": {"embedding_size": 8, "epochs": 10, "learning_rate": 0.05},
    "ease": {"reg": 10.0},
    "ncf": {"embedding_size": 4, "layers": [8], "epochs": 2, "batch_size": 256},
    "two-tower": {"embedding_size": 4, "layers": [8], "epochs": 2, "batch_size": 128},
    "sasrec": {"embedding_size": 8, "max_length": 8, "blocks": 1, "epochs": 2, "batch_size": 32},
    "blend": {"members": ["baseline", {"model": "svd", "epochs": 3, "embedding_size": 4}]},
    "text": {"epochs": 1, "batch_size": 256, "adapter": 8, "max_length": 16},
}
#: Models trained on implicit (weight) data.
IMPLICIT = {"als", "bpr", "ease", "two-tower", "sasrec"}
#: A strategy each model honours (None: plain continued training).
STRATEGY = {
    "svd": "l2sp=0.1;freeze=item_bias",
    "svdpp": "l2sp=0.1",
    "nmf": "l2sp=0.1",
    "baseline": "l2sp=0.1",
    "user-knn": "l2sp=0.1",
    "item-knn": "l2sp=0.1",
    "als": "l2sp=0.1",
    "bpr": "l2sp=0.1",
    "ease": "l2sp=0.1",
    "ncf": "l2sp=0.1",
    "two-tower": "l2sp=0.1",
    "sasrec": "l2sp=0.1",
    "text": "l2sp=0.1",
}


def _splits(implicit: bool) -> tuple[Interactions, Interactions, Interactions]:
    data = generate(n_users=100, n_items=80, n_interactions=1500, seed=3, implicit=implicit)
    order = np.argsort(data.timestamps, kind="stable")
    a, b = int(0.7 * len(data)), int(0.85 * len(data))
    return data.subset(order[:a]), data.subset(order[a:b]), data.subset(order[b:])


def _pairs(test: Interactions) -> tuple[list[Any], list[Any]]:
    users = [*test.user_ids[:40].tolist(), -999, test.user_ids[0]]
    items = [*test.item_ids[:40].tolist(), test.item_ids[0], -999]
    return users, items


def _snapshot(model: Any, train: Interactions, test: Interactions) -> dict[str, Any]:
    users, items = _pairs(test)
    pred = model.predict(np.array(users), np.array(items))
    score = model.score(np.array(users), np.array(items))
    who = [*train.user_ids[:6].tolist(), -999]
    ids, scores = model.recommend(np.array(who), n=10)
    u = model.user_map_.index_of(test.user_ids)
    i = model.item_map_.index_of(test.item_ids)
    err = model.predict_indices(u, i) - test.values
    return {
        "predict": pred.tolist(),
        "score": score.tolist(),
        "recommend_ids": ids.tolist(),
        "recommend_scores": scores.tolist(),
        "rmse": float(np.sqrt(np.mean(err**2))),
    }


def fingerprint(name: str) -> dict[str, Any]:
    train, update, test = _splits(name in IMPLICIT)
    params = PARAMS.get(name, {})
    cfg = TrainConfig(seed=0)
    out: dict[str, Any] = {}
    model = create_model(name, **params).fit(train, train=cfg)
    out["fit"] = _snapshot(model, train, test)
    out["fit_info_keys"] = sorted(model.fit_info_)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(str(Path(tmp) / "m"))
        out["loaded"] = _snapshot(load_model(str(Path(tmp) / "m")), train, test)
    model.partial_fit(update, train=cfg)
    out["partial_fit"] = _snapshot(model, train, test)
    tuned = create_model(name, **params).fit(train, train=cfg)
    # Ask for epochs only where fine-tuning honours them (others refuse the setting).
    ft = {"epochs": 2} if "epochs" in tuned.honoured_settings("finetune") else {}
    tuned.finetune(update, train=TrainConfig(seed=0, **ft), strategy=STRATEGY.get(name))
    out["finetune"] = _snapshot(tuned, train, test)
    out["finetune_info_keys"] = sorted(tuned.fit_info_)
    if name == "svd":
        fresh = create_model("svd", **params).fit(train, train=cfg)
        out["prequential"] = fresh.prequential(update).tolist()
        for u, i, v in zip(test.user_ids[:20], test.item_ids[:20], test.values[:20], strict=True):
            fresh.learn_one(u, i, float(v))
        out["learn_one"] = _snapshot(fresh, train, test)
    return out


def _numbers(obj: Any, path: str = "") -> dict[str, Any]:
    """Flatten to path -> leaf."""
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in _numbers(val, f"{path}/{key}").items()}
    if isinstance(obj, list):
        return {k: v for n, val in enumerate(obj) for k, v in _numbers(val, f"{path}[{n}]").items()}
    return {path: obj}


def compare(old: dict[str, Any], new: dict[str, Any], tol: float = 1e-6) -> list[str]:
    """Every leaf that differs by more than ``tol`` (numbers) or at all (anything else)."""
    a, b = _numbers(old), _numbers(new)
    diffs = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, "<missing>"), b.get(key, "<missing>")
        if isinstance(x, int | float) and isinstance(y, int | float):
            if (math.isnan(x) and math.isnan(y)) or (math.isinf(x) and x == y):
                continue
            if abs(x - y) <= tol:
                continue
        elif x == y:
            continue
        diffs.append(f"{key}: {x!r} -> {y!r}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--compare", default=None, help="an earlier dump to compare with")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    for name in args.models.split(","):
        t0 = time.perf_counter()
        try:
            result[name] = fingerprint(name)
        except Exception as exc:  # recorded, so a model that breaks shows up in the comparison
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    if args.compare:
        old = json.loads(Path(args.compare).read_text())
        diffs = compare({k: old[k] for k in result if k in old}, result)
        for d in diffs:
            print(d)
        print(f"{len(diffs)} differences over {len(result)} models", file=sys.stderr)
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Time-ordered stream: no update vs full retrain vs fine-tune vs partial_fit, chunk by chunk.

Usage: python benchmarks/bench_stream.py [--datasets ml-100k,ml-latest-small]
                                         [--models baseline,svd,svdpp,item-knn,als,ease,bpr]
                                         [--finetune-strategy "l2sp=0.1;replay=1"] [--no-surprise]

Each dataset is sorted by timestamp; a model is fitted on the first 80% and the rest is cut into
10 chunks. Every chunk is scored with the current model *before* it is used to update it
(`rectune.online.replay`): (a) never update, (b) retrain from scratch on everything so far,
(c) fine-tune on the chunk, (c') partial_fit on the chunk. Rating models are scored by RMSE,
ranking models (on the binarised data) by NDCG@10 over the full catalogue with seen items
excluded. Surprise's SVD (a) and (b) run on the same chunks in the same run for reference.
Targets: (c) within 1% of (b) at <= 5% of its update time, and better than (a).

(c)'s settings are chosen on a prefix that is never scored (``--tune``, the default): the
first 80% of the stream (the pretraining rows) is replayed on its own (pretrain on its first
80%, 10 chunks over the rest) for every candidate of `GRID`, and the candidate with the best
pooled metric there is the one run on the scored last 20%. ``--no-tune`` uses `FINETUNE`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import data_dir, machine

from rectune.config import parse_overrides
from rectune.data.loaders import load
from rectune.errors import ConfigError
from rectune.online.stream import replay
from rectune.testing import low_rank
from rectune.training import TrainConfig

OUT = Path(__file__).parent / "out"
RATING_MODELS = {"baseline": {}, "svd": {}, "svdpp": {}, "item-knn": {}}
RANKING_MODELS = {"als": {}, "ease": {}, "bpr": {}}
#: Fine-tune settings per model with --no-tune: (strategy, train options). These were once
#: tuned on ML-100K's scored stream itself; the default run chooses them on a prefix instead.
FINETUNE: dict[str, tuple[str, dict]] = {
    "svd": ("plain", {"epochs": 1, "learning_rate": 0.02}),
    "svdpp": ("plain", {"epochs": 1, "learning_rate": 0.02}),
    "baseline": ("l2sp=100", {}),
    # ALS: two anchored sweeps over the touched rows (its own 15 would cost a retrain).
    "als": ("l2sp=0.1", {"epochs": 2}),
    "bpr": ("l2sp=0.1", {"epochs": 2}),
}
DEFAULT_FINETUNE = ("l2sp=0.1;replay=1", {})
_SGD_GRID = [
    (st, {"epochs": e, "learning_rate": lr})
    for st in ("plain", "l2sp=0.1", "l2sp=1")
    for e in (1, 3)
    for lr in (0.005, 0.02)
]
#: Candidates of (c)'s settings, chosen on the unscored prefix (models not listed: FINETUNE /
#: DEFAULT_FINETUNE, their updates cost as much as a refit).
GRID: dict[str, list[tuple[str, dict]]] = {
    "svd": _SGD_GRID,
    "svdpp": _SGD_GRID,
    "baseline": [(f"l2sp={lam}", {}) for lam in (1, 10, 100)],
    "als": [(f"l2sp={lam}", {"epochs": e}) for lam in (0.1, 1) for e in (1, 2)],
    "bpr": [(f"l2sp={lam}", {"epochs": e}) for lam in (0.1, 1) for e in (1, 2)],
}


def tune_finetune(d, name: str, params: dict, metric: str, args: argparse.Namespace):
    """The best of `GRID[name]` on the stream's pretraining prefix (never scored later)."""
    order = np.argsort(d.timestamps, kind="stable")
    prefix = d.subset(order[: round(args.initial_fraction * len(d))])
    best, best_value = None, None
    for strat, opts in GRID[name]:
        r = replay(
            prefix,
            name,
            params,
            initial_fraction=args.initial_fraction,
            chunks=args.chunks,
            update="finetune",
            metrics=[metric],
            strategy=strat,
            train=TrainConfig(seed=args.seed),
            update_train=TrainConfig(seed=args.seed, **opts),
            seed=args.seed,
        )
        value = r.pooled[metric]
        print(f"  tune {name} {strat} {opts}: {value:.4f}", flush=True)
        if best_value is None or (value < best_value if metric == "rmse" else value > best_value):
            best, best_value = (strat, opts), value
    return best


def surprise_stream(data, initial_fraction: float, chunks: int, seed: int) -> dict[str, dict]:
    """Surprise SVD never updated and retrained after every chunk, on the same chunks."""
    import pandas as pd
    import surprise as s

    order = np.argsort(data.timestamps, kind="stable")
    frame = pd.DataFrame(
        {"u": data.user_ids[order], "i": data.item_ids[order], "r": data.values[order]}
    )
    n = len(frame)
    n0 = round(initial_fraction * n)
    pieces = np.array_split(np.arange(n0, n), chunks)
    reader = s.Reader(rating_scale=(float(data.values.min()), float(data.values.max())))

    def fit(end: int) -> tuple[object, float]:
        trainset = s.Dataset.load_from_df(frame.iloc[:end], reader).build_full_trainset()
        algo = s.SVD(random_state=seed)
        t0 = time.perf_counter()
        algo.fit(trainset)
        return algo, time.perf_counter() - t0

    def errors(algo, piece) -> np.ndarray:
        part = frame.iloc[piece[0] : piece[-1] + 1]
        est = np.array([algo.predict(u, i).est for u, i in zip(part.u, part.i, strict=True)])
        return est - part.r.to_numpy()

    out = {}
    first, t_init = fit(n0)
    errs_none = np.concatenate([errors(first, p) for p in pieces])
    out["none"] = {"metric": float(np.sqrt(np.mean(errs_none**2))), "update": 0.0, "init": t_init}
    algo, errs, total = first, [], 0.0
    for p in pieces:
        errs.append(errors(algo, p))
        algo, t = fit(p[-1] + 1)
        total += t
    e = np.concatenate(errs)
    out["retrain"] = {"metric": float(np.sqrt(np.mean(e**2))), "update": total, "init": t_init}
    return out


def run(args: argparse.Namespace) -> str:
    # Warm the numba kernels so update timings exclude compilation.
    warm = low_rank(n_users=30, n_items=20)
    lines = [
        f"# Stream replay: pretrain on the first {args.initial_fraction:.0%} by time, "
        f"{args.chunks} chunks\n",
        f"Machine: {machine()}. Each chunk is scored before the model learns it; pooled metric "
        "over all chunks. `update s` is the total update time over all chunks; `vs retrain` "
        "compares with (b) in the same run.\n",
    ]
    used: dict[str, tuple[str, dict]] = {}
    for ds in args.datasets.split(","):
        data = load(data_dir() / ds)
        chosen: dict[str, tuple[str, dict]] = {}
        lines += [
            f"\n## {ds} ({len(data):,} ratings)\n",
            "| model | metric | (a) none | (b) retrain | (c) finetune | (c') partial | "
            "(c) vs (b) | (c) time / (b) | (c') vs (b) | (c') time / (b) | (b) update s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        found: dict[str, dict] = {}
        for spec in args.models.split(","):
            # "als:fold_in_items=new" runs a model with extra hyperparameters.
            name, _, extra = spec.partition(":")
            ranking = name in RANKING_MODELS
            metric = "ndcg@10" if ranking else "rmse"
            params = dict((RANKING_MODELS if ranking else RATING_MODELS).get(name, {}))
            params.update(parse_overrides(extra.split(";")) if extra else {})
            d = data.binarize() if ranking else data
            strat, train_opts = FINETUNE.get(name, DEFAULT_FINETUNE)
            if args.tune and name in GRID and name not in chosen:
                chosen[name] = tune_finetune(d, name, params, metric, args)
            if args.tune and name in chosen:
                strat, train_opts = chosen[name]
            used[f"{ds} {spec}"] = (strat, train_opts)
            res = {}
            for mode in ("none", "retrain", "finetune", "partial"):
                try:
                    replay(
                        warm if not ranking else warm.binarize(),
                        name,
                        params,
                        chunks=2,
                        update=mode,
                        metrics=[metric],
                        strategy=strat if mode == "finetune" else None,
                    )
                    r = replay(
                        d,
                        name,
                        params,
                        initial_fraction=args.initial_fraction,
                        chunks=args.chunks,
                        update=mode,
                        metrics=[metric],
                        strategy=strat if mode == "finetune" else None,
                        train=TrainConfig(seed=args.seed),
                        update_train=TrainConfig(
                            seed=args.seed, **(train_opts if mode == "finetune" else {})
                        ),
                        seed=args.seed,
                    )
                    res[mode] = (r.pooled[metric], r.total_update_seconds)
                except (ConfigError, NotImplementedError, ImportError) as exc:
                    res[mode] = None
                    print(f"{ds} {spec} {mode}: n/a ({exc})")
                print(f"{ds} {spec} {mode}: {res[mode]}", flush=True)
            label = name if not extra else f"{name} ({extra})"
            lines.append(_row(label, metric, res, higher_better=ranking))
            found[spec] = res
        if not args.no_surprise:
            sur = surprise_stream(data, args.initial_fraction, args.chunks, args.seed)
            lines.append(
                f"| Surprise SVD | rmse | {sur['none']['metric']:.4f} | "
                f"{sur['retrain']['metric']:.4f} | n/a | n/a | | | | | "
                f"{sur['retrain']['update']:.2f} |"
            )
            svd = found.get("svd", {})
            for mode in ("finetune", "partial"):
                if svd.get(mode):
                    t, tb = svd[mode][1], sur["retrain"]["update"]
                    lines.append(
                        f"\nrectune svd {mode}: update time {t:.2f}s = {t / tb:.1%} of Surprise "
                        f"SVD's retraining ({tb:.2f}s); pooled RMSE {svd[mode][0]:.4f} vs "
                        f"Surprise retrain {sur['retrain']['metric']:.4f}, "
                        f"none {sur['none']['metric']:.4f}."
                    )
        how = "chosen on the unscored prefix" if args.tune else "fixed (--no-tune)"
        lines.append(
            f"\nStrategies for (c) ({how}): "
            + ", ".join(
                f"{k.split(' ', 1)[1]}: `{v[0]}` {v[1]}"
                for k, v in used.items()
                if k.startswith(f"{ds} ")
            )
            + ". Relative differences are (c)/(b) - 1 of the "
            "metric (negative is better for RMSE, positive for NDCG)."
        )
    return "\n".join(lines) + "\n"


def _row(name: str, metric: str, res: dict, *, higher_better: bool) -> str:
    def cell(mode: str) -> str:
        return "n/a" if res.get(mode) is None else f"{res[mode][0]:.4f}"

    def rel(mode: str) -> str:
        if res.get(mode) is None or res.get("retrain") is None:
            return "n/a"
        return f"{res[mode][0] / res['retrain'][0] - 1:+.2%}"

    def tratio(mode: str) -> str:
        if res.get(mode) is None or res.get("retrain") is None or not res["retrain"][1]:
            return "n/a"
        return f"{res[mode][1] / res['retrain'][1]:.1%}"

    b = "n/a" if res.get("retrain") is None else f"{res['retrain'][1]:.2f}"
    return (
        f"| {name} | {metric} | {cell('none')} | {cell('retrain')} | {cell('finetune')} | "
        f"{cell('partial')} | {rel('finetune')} | {tratio('finetune')} | {rel('partial')} | "
        f"{tratio('partial')} | {b} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="ml-100k,ml-latest-small")
    p.add_argument("--models", default="baseline,svd,svdpp,item-knn,als,ease,bpr")
    p.add_argument("--initial-fraction", type=float, default=0.8)
    p.add_argument("--chunks", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--finetune-strategy", default=None, help="Override (c)'s strategy for all.")
    p.add_argument("--no-surprise", action="store_true")
    p.add_argument(
        "--no-tune",
        dest="tune",
        action="store_false",
        help="Use FINETUNE as written instead of choosing (c)'s settings on the prefix.",
    )
    args = p.parse_args()
    if args.finetune_strategy:
        global DEFAULT_FINETUNE
        DEFAULT_FINETUNE = (args.finetune_strategy, {})
        FINETUNE.clear()
        GRID.clear()
    text = run(args)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "stream.md").write_text(text)


if __name__ == "__main__":
    main()

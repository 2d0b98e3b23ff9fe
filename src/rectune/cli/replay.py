"""``rectune replay``: replay a dataset in time order, scoring each chunk before updating.

The flags and the ``--json`` layout are a contract that scripts drive; add, never rename::

    {"chunks": [{"index", "n", "metrics": {...}, "update_seconds"}], "pooled": {...},
     "initial_fit_seconds", "total_update_seconds", ...}
"""

from __future__ import annotations

import typer
from rich.table import Table

from rectune.cli._common import FORMATS, console, load_data, user_errors, write_json
from rectune.cli.finetune import build_strategy, split_sets


def replay(
    data: str = typer.Option(..., "--data", help="Dataset directory or file."),
    model: str = typer.Option(..., "--model", help="Model name, e.g. svd, baseline."),
    sets: list[str] | None = typer.Option(
        None, "--set", help="Hyperparameter key=value; strategy.key=value; train.key=value."
    ),
    initial_fraction: float = typer.Option(
        0.8,
        "--initial-fraction",
        help="Share of the time-ordered rows for the first fit; 0 with --per-event starts empty.",
    ),
    chunks: int = typer.Option(10, "--chunks", help="Slices the remaining rows are cut into."),
    update: str = typer.Option(..., "--update", help="none, retrain, finetune or partial."),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Fine-tune strategy: preset or 'l2sp=0.1;replay=0.2'."
    ),
    metrics: str | None = typer.Option(
        None, "--metrics", help="e.g. rmse,ndcg@10 (default: rmse; ndcg@10 for ranking models)."
    ),
    per_event: bool = typer.Option(
        False, "--per-event", help="Predict then learn one event at a time (compiled)."
    ),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    json_out: str | None = typer.Option(None, "--json", help="Write the results as JSON here."),
) -> None:
    """Fit on a time-ordered prefix, then score and update chunk by chunk; print a table."""
    from rectune.evaluation.metric_names import predicts_ratings
    from rectune.models import create_model
    from rectune.online.stream import replay as run
    from rectune.training import TrainConfig

    with user_errors():
        params, strat_sets, train_sets = split_sets(sets)
        strat = None
        if strategy is not None or strat_sets:
            strat = build_strategy(strategy, strat_sets)
        train = TrainConfig.from_dict({"seed": seed, **train_sets})
        inter = load_data(data, fmt)
        if metrics is None:
            ranks_only = predicts_ratings(create_model(model, **params)) is False
            metrics = "ndcg@10" if ranks_only else "rmse"
        metric_list = [m.strip() for m in metrics.split(",") if m.strip()]
        with console.status(f"replaying {len(inter):,} interactions through {model} ({update})"):
            result = run(
                inter,
                model,
                params,
                initial_fraction=initial_fraction,
                chunks=chunks,
                update=update,  # type: ignore[arg-type]
                strategy=strat,
                train=train,
                metrics=metric_list,
                per_event=per_event,
                seed=seed,
            )
        out = result.to_dict()
        out["data"] = {"path": data, "fingerprint": inter.fingerprint()}
    _print(out)
    write_json(json_out, out)


def _print(out: dict) -> None:
    names = list(out["pooled"])
    table = Table(title=f"{out['model']} replay on {out['data']['path']} (update: {out['update']})")
    for col in ("chunk", "n", *names, "update s"):
        table.add_column(col, justify="right")
    for c in out["chunks"]:
        table.add_row(
            str(c["index"] + 1),
            str(c["n"]),
            *(_fmt(c["metrics"].get(m)) for m in names),
            f"{c['update_seconds']:.3f}",
        )
    table.add_row(
        "pooled",
        str(out["n_scored"]),
        *(_fmt(out["pooled"][m]) for m in names),
        f"{out['total_update_seconds']:.3f}",
        style="bold",
    )
    console.print(table)
    console.print(f"initial fit {out['initial_fit_seconds']:.3f}s on {out['n_initial']:,} rows")


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)

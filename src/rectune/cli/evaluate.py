"""``rectune evaluate``: cross-validate a model on a dataset.

The flags and the ``--json`` layout are a contract that scripts drive; add, never rename.
"""

from __future__ import annotations

import typer
from rich.table import Table

from rectune.cli._common import (
    FORMATS,
    console,
    load_data,
    model_spec,
    progress_display,
    user_errors,
    write_json,
)
from rectune.cli._tracking import (
    MLFLOW,
    MLFLOW_EXPERIMENT,
    MLFLOW_RUN_NAME,
    MLFLOW_URI,
    tracked,
)

SPLITS = ("kfold", "random", "temporal", "user-temporal", "leave-last", "cold-users", "cold-items")


def evaluate(
    data: str = typer.Option(..., "--data", help="Dataset directory or file."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    model: str | None = typer.Option(None, "--model", help="Model name, e.g. svd, item-knn."),
    sets: list[str] | None = typer.Option(None, "--set", help="Hyperparameter key=value."),
    config: str | None = typer.Option(None, "--config", help="TOML file with model and params."),
    split: str | None = typer.Option(None, "--split", help=f"One of {', '.join(SPLITS)}."),
    folds: int | None = typer.Option(None, "--folds", help="Folds for --split kfold."),
    test_size: float | None = typer.Option(None, "--test-size", help="Test share."),
    metrics: str | None = typer.Option(None, "--metrics", help="e.g. rmse,mae,ndcg@10."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    n_support: int | None = typer.Option(None, "--n-support", help="cold-users: support rows."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Drop and count bad rows."),
    json_out: str | None = typer.Option(None, "--json", help="Write the results as JSON here."),
    mlflow: bool = MLFLOW,
    mlflow_uri: str | None = MLFLOW_URI,
    mlflow_experiment: str | None = MLFLOW_EXPERIMENT,
    mlflow_run_name: str | None = MLFLOW_RUN_NAME,
) -> None:
    """Evaluate a model with a split and metrics; print a table, optionally write JSON."""
    from rectune.evaluation.metric_names import predicts_ratings
    from rectune.evaluation.runner import evaluate as run
    from rectune.evaluation.splits import split_options
    from rectune.models import create_model
    from rectune.training import TrainConfig

    with user_errors():
        name, params, defaults = model_spec(model, sets, config)
        inter = load_data(data, fmt, skip_bad_rows=skip_bad_rows)
        split = split or defaults.get("split", "kfold")
        # Flags the split does not use are errors (in the runner); config-file defaults are
        # defaults for whichever split runs, so they apply only where the split takes them.
        options = {"folds": folds, "test_size": test_size, "n_support": n_support}
        taken = split_options(split) if split in SPLITS else {}
        for key in ("folds", "test_size", "n_support"):
            if options[key] is None and key in defaults and key in taken:
                options[key] = defaults[key]
        seed = seed if seed is not None else int(defaults.get("seed", 0))
        probe = create_model(name, **params)
        if metrics is None:
            ranking_only = inter.is_implicit or predicts_ratings(probe) is False
            default = "ndcg@10,recall@10,precision@10" if ranking_only else "rmse,mae"
            metric_list = defaults.get("metrics", default.split(","))
        else:
            metric_list = [m.strip() for m in metrics.split(",") if m.strip()]
        with tracked(
            "evaluate", mlflow, mlflow_uri, mlflow_experiment, mlflow_run_name,
            f"evaluate-{name}",
        ) as tracking:  # fmt: skip
            with progress_display() as (bar, _):
                task = bar.add_task(f"{name} {split} folds", total=None)
                result = run(
                    name,
                    inter,
                    params=params,
                    split=split,
                    metrics=metric_list,
                    seed=seed,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    train=TrainConfig(progress=True),
                    **{k: v for k, v in options.items() if v is not None},
                )
            out = result.to_dict()
            out["data"]["path"] = data
            if tracking is not None:
                from rectune.tracking.record import log_evaluation

                log_evaluation(tracking, out)
    _print(out)
    write_json(json_out, out)


def _print(out: dict) -> None:
    metric_names = list(out["mean"])
    table = Table(title=f"{out['model']} on {out['data']['path']} ({out['split']['method']})")
    table.add_column("fold")
    for m in metric_names:
        table.add_column(m, justify="right")
    for k, fold in enumerate(out["folds"]):
        row = {
            **fold["metrics"],
            "fit_seconds": fold["fit_seconds"],
            "predict_seconds": fold.get("predict_seconds"),
        }
        table.add_row(str(k + 1), *(_fmt(row.get(m)) for m in metric_names))
    table.add_row("mean", *(_fmt(out["mean"][m]) for m in metric_names), style="bold")
    console.print(table)


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)

"""``rectune tune``: hyperparameter search (Optuna) chosen on validation data, scored on test.

The flags and the ``--json`` layout are a contract that scripts drive; add, never rename.
"""

from __future__ import annotations

import typer
from rich.table import Table

from rectune.cli._common import FORMATS, console, err_console, load_data, user_errors, write_json
from rectune.cli._tracking import (
    MLFLOW,
    MLFLOW_EXPERIMENT,
    MLFLOW_RUN_NAME,
    MLFLOW_URI,
    tracked,
)


def tune(
    data: str = typer.Option(..., "--data", help="Dataset directory or file."),
    model: str = typer.Option(..., "--model", help="Model name, e.g. svd, als, ease, item-knn."),
    space: str = typer.Option(..., "--space", help="Search space TOML ([params.NAME], [fixed])."),
    trials: int = typer.Option(..., "--trials", help="Trials in the study (in total, resumed)."),
    metric: str = typer.Option("ndcg@10", "--metric", help="Chosen on validation: rmse, ndcg@10.."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    split: str = typer.Option("random", "--split", help="random, temporal, user-temporal, ..."),
    test_size: float = typer.Option(0.2, "--test-size", help="Test share (never searched on)."),
    validation_size: float | None = typer.Option(
        None, "--validation-size", help="Validation share of the training part (default: test)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits, the sampler and the fits."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL, e.g. sqlite:///study.db (resumable)."
    ),
    study_name: str | None = typer.Option(None, "--study-name", help="Default: MODEL-METRIC."),
    prune: bool = typer.Option(True, "--prune/--no-prune", help="Median pruning per epoch."),
    timeout: float | None = typer.Option(None, "--timeout", help="Stop starting trials after S."),
    out: str | None = typer.Option(None, "--out", help="Write the best config TOML here."),
    json_out: str | None = typer.Option(None, "--json", help="Write the results as JSON here."),
    mlflow: bool = MLFLOW,
    mlflow_uri: str | None = MLFLOW_URI,
    mlflow_experiment: str | None = MLFLOW_EXPERIMENT,
    mlflow_run_name: str | None = MLFLOW_RUN_NAME,
) -> None:
    """Search hyperparameters on a validation split of the training part; report the test split."""
    import optuna

    from rectune.tuning import SearchSpace, write_best_toml
    from rectune.tuning import tune as run

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with user_errors():
        search = SearchSpace.load(space)
        with tracked(
            "tune", mlflow, mlflow_uri, mlflow_experiment, mlflow_run_name, f"tune-{model}"
        ) as tracking:
            inter = load_data(data, fmt)
            with console.status(f"tuning {model}: {trials} trials on {metric}"):
                result = run(model, inter, search, trials=trials, metric=metric, split=split,
                             test_size=test_size, validation_size=validation_size, seed=seed,
                             storage=storage, study_name=study_name, prune=prune,
                             timeout=timeout)  # fmt: skip
            doc = result.to_dict()
            doc["data"]["path"] = data
            if out:
                write_best_toml(result, out)
            if tracking is not None:
                from rectune.tracking.record import log_tune

                log_tune(tracking, doc, out)
    _print(doc)
    if out:
        err_console.print(f"best config written to {out}")
    write_json(json_out, doc)


def _print(doc: dict) -> None:
    m = doc["metric"]
    table = Table(title=f"{doc['model']}: {doc['n_trials']} trials ({doc['n_pruned']} pruned)")
    for col in ("config", f"validation {m}", f"test {m}", "params"):
        table.add_column(col, justify="left" if col in ("config", "params") else "right")
    best = doc["best"]
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
    table.add_row("tuned", _fmt(best["value"]), _fmt(doc["test"]["tuned"][m]), params)
    table.add_row("default", "-", _fmt(doc["test"]["default"][m]), "(model defaults + fixed)")
    console.print(table)
    console.print(f"search {doc['seconds']['search']:.1f}s for {doc['seconds']['ran_trials']} "
                  f"trials; refit {doc['seconds']['refit']:.1f}s")  # fmt: skip


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

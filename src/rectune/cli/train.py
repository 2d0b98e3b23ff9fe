"""``rectune train``: fit a model on a dataset and save the artifact."""

from __future__ import annotations

import typer

from rectune.cli._common import (
    FORMATS,
    console,
    load_data,
    model_spec,
    progress_display,
    user_errors,
)
from rectune.cli._tracking import (
    MLFLOW,
    MLFLOW_EXPERIMENT,
    MLFLOW_LOG_MODEL,
    MLFLOW_RUN_NAME,
    MLFLOW_URI,
    tracked,
)


def train(
    data: str = typer.Option(..., "--data", help="Dataset directory or file."),
    out: str = typer.Option(..., "--out", help="Artifact directory to write."),
    model: str | None = typer.Option(None, "--model", help="Model name, e.g. svd, item-knn."),
    sets: list[str] | None = typer.Option(None, "--set", help="Hyperparameter key=value."),
    config: str | None = typer.Option(None, "--config", help="TOML file with model and params."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Drop and count bad rows."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    checkpoint_dir: str | None = typer.Option(
        None,
        "--checkpoint-dir",
        help="Torch models: checkpoint here after every epoch; resume if it holds one.",
    ),
    mlflow: bool = MLFLOW,
    mlflow_uri: str | None = MLFLOW_URI,
    mlflow_experiment: str | None = MLFLOW_EXPERIMENT,
    mlflow_run_name: str | None = MLFLOW_RUN_NAME,
    mlflow_log_model: bool = MLFLOW_LOG_MODEL,
) -> None:
    """Fit a model on all of a dataset and save it as an artifact directory."""
    from rectune.cli._tracking import log_artifact_run
    from rectune.models import create_model
    from rectune.training import TrainConfig

    with user_errors():
        name, params, _ = model_spec(model, sets, config)
        with tracked(
            "train", mlflow, mlflow_uri, mlflow_experiment, mlflow_run_name,
            f"train-{name}", mlflow_log_model,
        ) as run:  # fmt: skip
            inter = load_data(data, fmt, skip_bad_rows=skip_bad_rows)
            rec = create_model(name, **params)
            train = TrainConfig(seed=seed, progress=True)
            with progress_display(f"fitting {name} on {len(inter):,} interactions"):
                rec.fit(inter, train=train, checkpoint_dir=checkpoint_dir)
            artifact_id = rec.save(out, metrics={})
            if run is not None:
                log_artifact_run(run, rec, out, data, mlflow_log_model)
    console.print(
        f"fitted [bold]{name}[/] in {rec.fit_info_['fit_seconds']:.2f}s; "
        f"saved artifact {artifact_id} to {out}"
    )

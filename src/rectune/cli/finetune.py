"""``rectune finetune``: continue training a saved artifact on new data; write a child artifact.

The child's ``lineage.json`` names the parent artifact (id, path, checksum), the strategy and the
training settings. ``--strategy`` takes a preset (``plain``, ``l2sp``, ``freeze-items``,
``replay``, ``l2sp-replay``) or settings ``"l2sp=0.1;freeze=item_*"``; ``--set strategy.k=v``
and ``--set train.k=v`` override single settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rectune.cli._common import (
    FORMATS,
    console,
    load_data,
    progress_display,
    user_errors,
    write_json,
)
from rectune.cli._tracking import (
    MLFLOW,
    MLFLOW_EXPERIMENT,
    MLFLOW_LOG_MODEL,
    MLFLOW_RUN_NAME,
    MLFLOW_URI,
    tracked,
)
from rectune.config import parse_overrides
from rectune.errors import ConfigError


def split_sets(sets: list[str] | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split ``--set`` items into (model params, ``strategy.*`` settings, ``train.*`` settings)."""
    params: dict[str, Any] = {}
    strategy: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for key, value in parse_overrides(sets or []).items():
        prefix, dot, rest = key.partition(".")
        if not dot:
            params[key] = value
        elif prefix == "strategy" and rest:
            strategy[rest] = value
        elif prefix == "train" and rest:
            train[rest] = value
        else:
            raise ConfigError(f"--set {key}: prefixed keys must start with 'strategy.' or 'train.'")
    return params, strategy, train


def build_strategy(spec: str | None, overrides: dict[str, Any]) -> Any:
    """A `FinetuneStrategy` from ``--strategy`` plus ``--set strategy.k=v`` overrides."""
    from rectune.training.strategy import FinetuneStrategy

    base = FinetuneStrategy.parse(spec)
    return FinetuneStrategy.from_dict({**base.to_dict(), **overrides}) if overrides else base


def finetune(
    parent: str = typer.Option(..., "--from", help="Parent artifact directory."),
    data: str = typer.Option(..., "--data", help="New data: dataset directory or file."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    out: str = typer.Option(..., "--out", help="Directory of the fine-tuned artifact."),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Preset name or settings 'l2sp=0.1;freeze=item_*'."
    ),
    sets: list[str] | None = typer.Option(
        None, "--set", help="strategy.key=value or train.key=value (repeatable)."
    ),
    learning_rate: float | None = typer.Option(None, "--learning-rate", help="Step size."),
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the new data."),
    schedule: str | None = typer.Option(None, "--schedule", help="constant, cosine or linear."),
    warmup_epochs: int | None = typer.Option(None, "--warmup-epochs", help="Warm-up epochs."),
    early_stopping: int | None = typer.Option(
        None, "--early-stopping", help="Patience in epochs (holds out a validation share)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Drop and count bad rows."),
    json_out: str | None = typer.Option(None, "--json", help="Write a summary as JSON here."),
    mlflow: bool = MLFLOW,
    mlflow_uri: str | None = MLFLOW_URI,
    mlflow_experiment: str | None = MLFLOW_EXPERIMENT,
    mlflow_run_name: str | None = MLFLOW_RUN_NAME,
    mlflow_log_model: bool = MLFLOW_LOG_MODEL,
) -> None:
    """Fine-tune a saved model on new data and save the result as a child artifact."""
    from rectune.registry import load_model
    from rectune.registry.artifacts import read_json
    from rectune.training import TrainConfig

    with user_errors():
        if Path(out).resolve() == Path(parent).resolve():
            raise ConfigError(f"--out {out} is the parent artifact; choose another directory")
        params, strat_sets, train_sets = split_sets(sets)
        if params:
            raise ConfigError(
                f"finetune keeps the parent's hyperparameters; cannot set {sorted(params)} "
                "(use strategy.key=value or train.key=value)"
            )
        strat = build_strategy(strategy, strat_sets)
        flags = {
            "learning_rate": learning_rate,
            "epochs": epochs,
            "schedule": schedule,
            "warmup_epochs": warmup_epochs,
            "early_stopping": early_stopping,
        }
        train = TrainConfig.from_dict(
            {"seed": seed, "progress": True, **train_sets}
            | {k: v for k, v in flags.items() if v is not None}
        )
        model = load_model(parent)
        with tracked(
            "finetune", mlflow, mlflow_uri, mlflow_experiment, mlflow_run_name,
            f"finetune-{model.name}", mlflow_log_model,
        ) as run:  # fmt: skip
            inter = load_data(data, fmt, skip_bad_rows=skip_bad_rows)
            with progress_display(f"fine-tuning {model.name} on {len(inter):,} interactions"):
                model.finetune(inter, train=train, strategy=strat)
            info = model.fit_info_
            artifact_id = model.save(out, parent=parent, strategy=strat.to_dict())
            lineage = read_json(out, "lineage.json")
            if run is not None:
                from rectune.cli._tracking import log_artifact_run

                log_artifact_run(
                    run, model, out, data, mlflow_log_model, strategy=strat.to_dict(),
                    validation_metric=train.validation_metric,
                )  # fmt: skip
    summary = {
        "artifact_id": artifact_id,
        "path": out,
        "model": model.name,
        "parent": lineage["parent"],
        "strategy": strat.to_dict(),
        "train": train.to_dict(),
        "fit_seconds": info.get("fit_seconds"),
        "epochs_run": info.get("epochs_run"),
        "validation_history": info.get("validation_history"),
        "new_users": info.get("new_users"),
        "new_items": info.get("new_items"),
        "n_interactions": len(inter),
    }
    console.print(
        f"fine-tuned [bold]{model.name}[/] from {lineage['parent']['id']} in "
        f"{info['fit_seconds']:.2f}s ({info.get('epochs_run')} epochs, "
        f"{info.get('new_users')} new users, {info.get('new_items')} new items); "
        f"saved artifact {artifact_id} to {out}"
    )
    write_json(json_out, summary)

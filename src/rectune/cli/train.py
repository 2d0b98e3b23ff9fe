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
) -> None:
    """Fit a model on all of a dataset and save it as an artifact directory."""
    from rectune.models import create_model
    from rectune.training import TrainConfig

    with user_errors():
        name, params, _ = model_spec(model, sets, config)
        inter = load_data(data, fmt, skip_bad_rows=skip_bad_rows)
        rec = create_model(name, **params)
        train = TrainConfig(seed=seed, progress=True)
        with progress_display(f"fitting {name} on {len(inter):,} interactions"):
            rec.fit(inter, train=train, checkpoint_dir=checkpoint_dir)
        artifact_id = rec.save(out, metrics={})
    console.print(
        f"fitted [bold]{name}[/] in {rec.fit_info_['fit_seconds']:.2f}s; "
        f"saved artifact {artifact_id} to {out}"
    )

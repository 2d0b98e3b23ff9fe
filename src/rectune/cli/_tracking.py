"""The MLflow flags every tracked command takes, and the run they open (or not).

Tracking is on with ``--mlflow``, or when any other ``--mlflow-*`` flag is given;
the URI defaults to MLflow's own (``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the
working directory), the experiment likewise (``MLFLOW_EXPERIMENT_NAME``, else the default).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

MLFLOW = typer.Option(
    False, "--mlflow", help="Log this run to MLflow (needs: pip install rectune\\[mlflow])."
)
MLFLOW_URI = typer.Option(
    None, "--mlflow-uri", help="MLflow tracking URI, e.g. sqlite:///mlflow.db (implies --mlflow)."
)
MLFLOW_EXPERIMENT = typer.Option(
    None, "--mlflow-experiment", help="MLflow experiment name (implies --mlflow)."
)
MLFLOW_RUN_NAME = typer.Option(
    None, "--mlflow-run-name", help="MLflow run name (implies --mlflow)."
)
MLFLOW_LOG_MODEL = typer.Option(
    False,
    "--mlflow-log-model",
    help="Also log the artifact as a pickle-free MLflow model 'model' (implies --mlflow).",
)


@contextmanager
def tracked(
    command: str,
    enabled: bool,
    uri: str | None,
    experiment: str | None,
    run_name: str | None,
    default_name: str | None = None,
    log_model: bool = False,
) -> Iterator[Any]:
    """The command's MLflow run (a `rectune.tracking.Run`), or None when tracking is off."""
    if not (enabled or uri or experiment or run_name or log_model):
        yield None
        return
    from rectune.tracking import TrackingSettings, start_run

    quiet_mlflow()
    settings = TrackingSettings(uri=uri, experiment=experiment, run_name=run_name)
    with start_run(settings, command=command, run_name=default_name) as run:
        yield run


def quiet_mlflow() -> None:
    """MLflow's INFO lines and artifact progress bars off in the CLI (``-v`` keeps its INFO):
    the command's own output stays readable. (Its import sets its logger to INFO: set after.)"""
    import logging
    import os

    from rectune.tracking import require_mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    require_mlflow()
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("mlflow").setLevel(logging.WARNING)


def log_artifact_run(
    run: Any,
    model: Any,
    out: str,
    data: str,
    log_model: bool,
    *,
    strategy: dict[str, Any] | None = None,
    validation_metric: str | None = None,
) -> None:
    """Fill a train / finetune run: the fit, the artifact, and (asked for) the MLflow model."""
    from rectune.tracking.record import log_fit

    log_fit(run, model, out, strategy=strategy, validation_metric=validation_metric)
    run.set_tags({"rectune.data_path": data})
    if log_model:
        from rectune.tracking.mlflow_model import log_model as log_pyfunc

        log_pyfunc(out, "model", run=run)

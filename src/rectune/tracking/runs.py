"""MLflow runs for rectune's commands: where they go, and the few calls every record makes.

MLflow is an optional dependency (``pip install rectune[mlflow]``) and is imported only when a
run starts (`require_mlflow`), so rectune without it imports, fits and serves as before, and
asking for tracking without it is a `ConfigError` that names the install command.

Names follow MLflow's rules: a metric or parameter key holds letters, digits, ``_ - . / :`` and
spaces only, so ``ndcg@10`` is logged as ``ndcg_at_10`` (`metric_key`); nested settings are
flattened with dots (``train.seed``); values longer than MLflow's 6,000 characters are cut
(and end in ``...``); non-finite metric values (a NaN fold) are left out, not logged as NaN.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rectune.errors import ConfigError

INSTALL_HINT = "pip install rectune[mlflow]"
#: MLflow's limits (mlflow.utils.validation): parameter value length, keys, batch sizes.
MAX_PARAM_LENGTH = 6000
MAX_KEY_LENGTH = 250
_PARAM_BATCH = 100
_METRIC_BATCH = 1000
_BAD_KEY_CHARS = re.compile(r"[^\w./\- :]")


def require_mlflow() -> ModuleType:
    """The ``mlflow`` module, or a `ConfigError` saying how to install it.

    MLflow 3 reports usage to its servers by default; rectune turns that off unless the user
    set ``MLFLOW_DISABLE_TELEMETRY`` themselves (a tool that tracks runs on a laptop or an
    offline machine should not phone home, and a blocked connection stalls each command)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError(
            f"MLflow tracking needs the mlflow package, which is not installed ({exc}): "
            f"{INSTALL_HINT}"
        ) from None
    return mlflow


def metric_key(name: str) -> str:
    """``name`` as a valid MLflow key: ``@`` becomes ``_at_``, other bad characters ``_``."""
    key = _BAD_KEY_CHARS.sub("_", str(name).replace("@", "_at_"))
    return key[:MAX_KEY_LENGTH]


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened into ``parent.child`` keys (lists and scalars kept as-is)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def param_value(value: Any) -> str:
    """A parameter value as MLflow stores it: text, JSON for lists and mappings, cut to fit."""
    text = (
        json.dumps(value, default=str, sort_keys=True)
        if isinstance(value, list | tuple | Mapping)
        else str(value)
    )
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 3] + "..."


@dataclass(frozen=True)
class TrackingSettings:
    """Where a command's run goes.

    ``uri`` None leaves MLflow's own choice (the ``MLFLOW_TRACKING_URI`` variable, else
    ``sqlite:///mlflow.db`` in the working directory); ``experiment`` None likewise (the
    ``MLFLOW_EXPERIMENT_NAME`` variable, else MLflow's default experiment).
    """

    uri: str | None = None
    experiment: str | None = None
    run_name: str | None = None


class Run:
    """One MLflow run, written through an `MlflowClient` (thread-safe, no global state)."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any], prefix: str = "") -> None:
        """Log flattened ``params`` (keys made valid, values as text)."""
        from mlflow.entities import Param

        items = [Param(metric_key(k), param_value(v)) for k, v in flatten(params, prefix).items()]
        for start in range(0, len(items), _PARAM_BATCH):
            self.client.log_batch(self.run_id, params=items[start : start + _PARAM_BATCH])

    def log_metrics(self, metrics: Mapping[str, Any], step: int = 0, prefix: str = "") -> None:
        """Log the finite numeric values of ``metrics`` at ``step``; others are skipped."""
        self.log_series({f"{prefix}{k}": [(step, v)] for k, v in metrics.items()})

    def log_series(self, series: Mapping[str, list[tuple[int, Any]]]) -> None:
        """Log ``{name: [(step, value), ...]}`` in batches (finite numbers only)."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(metric_key(name), float(value), now, int(step))
            for name, points in series.items()
            for step, value in points
            if _finite_number(value)
        ]
        for start in range(0, len(items), _METRIC_BATCH):
            self.client.log_batch(self.run_id, metrics=items[start : start + _METRIC_BATCH])

    def log_epochs(self, history: list[dict[str, float]], prefix: str = "") -> None:
        """Per-epoch values (``[{"epoch": 1, "loss": ...}, ...]``) as metrics with
        ``step=epoch``: ``loss`` and any other value an epoch recorded."""
        series: dict[str, list[tuple[int, Any]]] = {}
        for row in history:
            step = int(row["epoch"])
            for name, value in row.items():
                if name != "epoch":
                    series.setdefault(f"{prefix}{name}", []).append((step, value))
        self.log_series(series)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (None values skipped)."""
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:8000]) for k, v in tags.items() if v is not None]
        for start in range(0, len(items), _PARAM_BATCH):
            self.client.log_batch(self.run_id, tags=items[start : start + _PARAM_BATCH])

    def log_dir(self, path: str | Path, artifact_path: str) -> None:
        """Copy the directory ``path`` into the run's artifacts under ``artifact_path``."""
        self.client.log_artifacts(self.run_id, str(path), artifact_path)

    def log_json(self, obj: Any, name: str) -> None:
        """Store ``obj`` as the JSON artifact ``name``."""
        self.client.log_text(self.run_id, json.dumps(obj, indent=2, default=str), name)

    @contextmanager
    def child(self, name: str, tags: Mapping[str, Any] | None = None) -> Iterator[Run]:
        """A nested run under this one (``mlflow.parentRunId``), ended when the block ends."""
        run = _create(self.client, self._experiment_id(), name, self.run_id, tags or {})
        with _ending(run):
            yield run

    def _experiment_id(self) -> str:
        return str(self.client.get_run(self.run_id).info.experiment_id)


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _create(
    client: Any, experiment_id: str, name: str | None, parent: str | None, tags: Mapping[str, Any]
) -> Run:
    all_tags = {str(k): str(v) for k, v in tags.items() if v is not None}
    if parent is not None:
        all_tags["mlflow.parentRunId"] = parent
    info = client.create_run(experiment_id, tags=all_tags, run_name=name).info
    return Run(client, info.run_id)


@contextmanager
def _ending(run: Run) -> Iterator[None]:
    """End ``run`` as FINISHED, or FAILED (then re-raise) when the block raises."""
    try:
        yield
    except BaseException:
        run.client.set_terminated(run.run_id, status="FAILED")
        raise
    run.client.set_terminated(run.run_id, status="FINISHED")


def experiment_id(client: Any, name: str | None) -> str:
    """The id of experiment ``name`` (created when missing); None: MLflow's default choice."""
    import os

    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"
    found = client.get_experiment_by_name(name)
    return str(found.experiment_id if found is not None else client.create_experiment(name))


@contextmanager
def start_run(
    settings: TrackingSettings, *, command: str, run_name: str | None = None
) -> Iterator[Run]:
    """A top-level run for ``command`` (tag ``rectune.command``), ended when the block ends.

    The tracking store is reached before any work starts, so a bad ``uri`` fails at once.
    """
    from rectune.version import __version__

    client, exp = check_tracking(settings)
    tags = {"rectune.command": command, "rectune.version": __version__}
    try:
        run = _create(client, exp, settings.run_name or run_name, None, tags)
    except Exception as exc:
        raise ConfigError(f"MLflow tracking at {client.tracking_uri}: {exc}") from None
    with _ending(run):
        yield run


def check_tracking(settings: TrackingSettings) -> tuple[Any, str]:
    """Reach the tracking store of ``settings``: ``(client, experiment id)``, or a
    `ConfigError` (mlflow missing, a bad URI, an unreachable store)."""
    mlflow = require_mlflow()
    try:
        client = mlflow.MlflowClient(tracking_uri=settings.uri)
        return client, experiment_id(client, settings.experiment)
    except Exception as exc:  # MlflowException, or a driver's error for a bad store URI
        where = settings.uri or mlflow.get_tracking_uri()
        message = getattr(exc, "message", None) or str(exc)
        raise ConfigError(f"MLflow tracking at {where}: {message}") from None


__all__ = [
    "INSTALL_HINT",
    "Run",
    "TrackingSettings",
    "check_tracking",
    "flatten",
    "metric_key",
    "param_value",
    "require_mlflow",
    "start_run",
]

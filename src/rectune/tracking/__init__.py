"""Optional MLflow tracking (``pip install rectune[mlflow]``): runs and a pickle-free model.

`start_run` opens a run for a command, the functions of `rectune.tracking.record` fill it
(fits, evaluations, studies, updater sessions), and `rectune.tracking.mlflow_model` turns an
artifact into an MLflow model that ``mlflow models serve`` serves. Nothing here imports mlflow
until a run or model is asked for; without it that is a `ConfigError` naming the install.
"""

from __future__ import annotations

from rectune.tracking.runs import INSTALL_HINT, Run, TrackingSettings, require_mlflow, start_run

__all__ = ["INSTALL_HINT", "Run", "TrackingSettings", "require_mlflow", "start_run"]

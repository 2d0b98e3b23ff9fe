"""MLflow fixtures: one SQLite tracking store for the session, one experiment per test.

MLflow's SQLite store builds its tables once (several seconds), so the tests share one store
and keep apart by experiment, each with its artifacts under the test's own directory. The
tests need the ``[mlflow]`` extra (in ``[test]``); without it they skip, except in CI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# No usage reports from MLflow to its servers from the tests (MLflow 3 sends them by default).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        if os.environ.get("CI") == "true":  # CI installs [test], which holds mlflow
            pytest.fail("CI=true but mlflow is not installed: .ci/run installs .[test]")
        pytest.skip("mlflow is not installed (pip install rectune[mlflow])")
    return mlflow


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite tracking store, its tables built once for the session (in memory-backed
    /dev/shm where there is one: building them syncs to disk ~100 times, 10 s on this disk)."""
    mlflow = _mlflow()
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        root = Path(tempfile.mkdtemp(prefix="rectune-mlflow-", dir=shm))
    else:
        root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    try:
        mlflow.MlflowClient(tracking_uri=uri).search_experiments()  # builds the tables
        yield uri
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def client(tracking_uri: str) -> Any:
    return _mlflow().MlflowClient(tracking_uri=tracking_uri)


@pytest.fixture
def experiment(client: Any, tmp_path: Path) -> Callable[[], tuple[str, str]]:
    """A factory of fresh experiments: ``(name, id)``, artifacts under ``tmp_path``."""

    def make() -> tuple[str, str]:
        name = f"exp-{uuid.uuid4().hex[:8]}"
        exp_id = client.create_experiment(name, artifact_location=(tmp_path / name).as_uri())
        return name, exp_id

    return make

"""A rectune artifact as an MLflow model, without pickle: ``mlflow models serve`` serves it.

`save` writes an MLflow pyfunc model directory: the python model is given to MLflow as the path
of `rectune/tracking/pyfunc_model.py` ("models from code"), so no object is cloudpickled, and
the rectune artifact directory is stored as the MLflow artifact ``rectune_artifact``, which the
model's ``load_context`` loads with `rectune.load` (JSON and ``.npz`` read without pickle).
`log_model` does the same into an MLflow run.

Signature (saved in ``MLmodel``)
--------------------------------
input  (a DataFrame, one row per request)
    ``user_id``: long or string, as the artifact's user ids (unknown users get the most popular
    items); ``n``: optional, the list length, a whole number >= 1 (a row without it takes the
    default; declared double because MLflow turns a column of integers with gaps into floats).
params
    ``n`` (long): the default list length for rows without one; ``exclude_seen`` (boolean,
    default true): leave out items the user interacted with.
output (one row per input row)
    ``user_id``; ``item_ids``: the recommended item ids, best first; ``scores``: their scores.
    A list is shorter than ``n`` when fewer items have a finite score (the user saw the rest).

Serving answers ``POST /invocations`` with ``{"dataframe_records": [{"user_id": 1}, ...]}``
(optionally ``"params": {"n": 5}``) by ``{"predictions": [{"user_id": .., "item_ids": [..],
"scores": [..]}, ...]}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rectune.errors import DataError

#: Name of the rectune artifact directory among the MLflow model's artifacts.
ARTIFACT_KEY = "rectune_artifact"
#: List length of rows that give no ``n``.
DEFAULT_N = 10
#: The models-from-code file MLflow runs to build the python model.
CODE_PATH = Path(__file__).with_name("pyfunc_model.py")


def recommend_frame(
    model: Any, frame: pd.DataFrame, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Top-n lists for each row's ``user_id`` as a DataFrame (``user_id``, ``item_ids``,
    ``scores``); ``n`` per row (column) or for all (``params["n"]``)."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    if "user_id" not in frame.columns:
        raise DataError(f"model input needs a 'user_id' column, got columns {list(frame.columns)}")
    params = dict(params or {})
    default = _whole(params.get("n", DEFAULT_N), "params.n")
    exclude_seen = bool(params.get("exclude_seen", True))
    users = frame["user_id"].to_numpy()
    if "n" in frame.columns:
        ns = np.array(
            [default if _missing(v) else _whole(v, f"row {i}: n") for i, v in enumerate(frame["n"])]
        )
    else:
        ns = np.full(len(frame), default)
    item_lists: list[list[Any]] = [[] for _ in range(len(frame))]
    score_lists: list[list[float]] = [[] for _ in range(len(frame))]
    for n in np.unique(ns):
        rows = np.flatnonzero(ns == n)
        ids, scores = model.recommend(users[rows], n=int(n), exclude_seen=exclude_seen)
        for row, id_row, score_row in zip(rows, ids, scores, strict=True):
            keep = np.isfinite(score_row)
            item_lists[row] = id_row[keep].tolist()
            score_lists[row] = score_row[keep].astype(float).tolist()
    return pd.DataFrame({"user_id": users, "item_ids": item_lists, "scores": score_lists})


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or float(value) < 1:
        raise DataError(f"{where}: n must be a whole number >= 1, got {value!r}")
    return int(value)


def signature(artifact_dir: str | Path) -> Any:
    """The MLflow `ModelSignature` of the artifact: the id types come from its id maps."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    from rectune.registry.artifacts import read_json

    ids = read_json(artifact_dir, "ids.json")
    user_t, item_t = _id_type(ids["users"]), _id_type(ids["items"])
    inputs = Schema([ColSpec(user_t, "user_id"), ColSpec("double", "n", required=False)])
    outputs = Schema(
        [
            ColSpec(user_t, "user_id"),
            ColSpec(Array(item_t), "item_ids"),
            ColSpec(Array("double"), "scores"),
        ]
    )
    params = ParamSchema(
        [ParamSpec("n", "long", DEFAULT_N), ParamSpec("exclude_seen", "boolean", True)]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _id_type(id_map: Any) -> str:
    """``long`` when an id map's ids are integers, else ``string``."""
    return "long" if id_map.get("dtype") == "int64" else "string"  # as `IdMap.from_json` reads


def input_example(artifact_dir: str | Path) -> pd.DataFrame:
    """Two of the artifact's users, as a request (saved as ``input_example.json`` and
    ``serving_input_example.json``, which MLflow checks by predicting them when saving)."""
    from rectune.registry.artifacts import read_json

    users = read_json(artifact_dir, "ids.json")["users"]["ids"][:2]
    return pd.DataFrame({"user_id": users})


def _requirements() -> list[str]:
    from rectune.version import __version__

    return [f"rectune=={__version__}"]


def _check_artifact(artifact_dir: str | Path) -> Path:
    from rectune.registry.artifacts import verify_artifact

    verify_artifact(artifact_dir)  # a damaged artifact fails here, not in the server
    return Path(artifact_dir)


def save(artifact_dir: str | Path, path: str | Path) -> Path:
    """Write the rectune artifact ``artifact_dir`` as an MLflow model directory ``path``."""
    from rectune.tracking.runs import require_mlflow

    mlflow = require_mlflow()
    source = _check_artifact(artifact_dir)
    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=str(CODE_PATH),
        artifacts={ARTIFACT_KEY: str(source)},
        signature=signature(source),
        input_example=input_example(source),
        pip_requirements=_requirements(),
    )
    return Path(path)


def log_model(artifact_dir: str | Path, name: str = "model", *, run: Any = None) -> Any:
    """Log the rectune artifact as an MLflow model ``name``.

    Into the active MLflow run (`mlflow.pyfunc.log_model`; returns its `ModelInfo`), or, given
    ``run`` (a `rectune.tracking.Run`), into that run's artifacts under ``name`` (`save`, then
    copied: no global MLflow state is touched; returns ``runs:/RUN_ID/NAME``).
    """
    from rectune.tracking.runs import require_mlflow

    mlflow = require_mlflow()
    source = _check_artifact(artifact_dir)
    if run is None:
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(CODE_PATH),
            artifacts={ARTIFACT_KEY: str(source)},
            signature=signature(source),
            input_example=input_example(source),
            pip_requirements=_requirements(),
        )
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rectune-mlflow-") as tmp:
        saved = save(source, Path(tmp) / name)
        run.log_dir(saved, name)
    return f"runs:/{run.run_id}/{name}"


__all__ = ["ARTIFACT_KEY", "CODE_PATH", "DEFAULT_N", "log_model", "recommend_frame", "save"]

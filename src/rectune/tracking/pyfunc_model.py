"""The MLflow python model of a rectune artifact, as an MLflow "models from code" file.

`rectune.tracking.mlflow_model.save` hands MLflow this file's path (never a pickled object):
MLflow copies the file into the model directory and, to load the model, runs it, which defines
`RectuneModel` and names it with ``mlflow.models.set_model``. ``load_context`` loads the rectune
artifact that was saved beside it (``artifacts/rectune_artifact``) with `rectune.load`, which
reads JSON and ``.npz`` arrays without pickle; ``predict`` is `recommend_frame`.

Importing this module without mlflow installed defines nothing MLflow needs and raises nothing
(the package's doctest collection imports every module).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rectune.tracking.mlflow_model import ARTIFACT_KEY, recommend_frame

try:
    import mlflow
    from mlflow.pyfunc import PythonModel
except ImportError:  # rectune without the [mlflow] extra: nothing to define
    mlflow = None
    PythonModel = object


class RectuneModel(PythonModel):  # type: ignore[misc,valid-type]
    """A rectune artifact behind MLflow's pyfunc interface: user ids in, top-n lists out."""

    model: Any = None

    def load_context(self, context: Any) -> None:
        """Load the rectune artifact stored with the MLflow model (verified by `load`)."""
        from rectune.registry import load_model

        self.model = load_model(context.artifacts[ARTIFACT_KEY])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Recommendations for each row's ``user_id`` (see `recommend_frame`)."""
        return recommend_frame(self.model, model_input, params)


if mlflow is not None:
    mlflow.models.set_model(RectuneModel())

"""rectune: pretrain, fine-tune, incrementally update, evaluate and serve recommender models."""

from __future__ import annotations

__version__ = "0.1.0"

from rectune.config import ConfigBase  # noqa: E402
from rectune.data import Interactions, IdMap  # noqa: E402
from rectune.errors import (  # noqa: E402
    ArtifactError,
    ConfigError,
    DataError,
    NotFittedError,
    UnknownIdError,
)
from rectune.models import Recommender, create_model, model_class  # noqa: E402
from rectune.registry import load_model, save_model  # noqa: E402
from rectune.training import TrainConfig  # noqa: E402

load = load_model

__all__ = [
    "ArtifactError",
    "ConfigBase",
    "ConfigError",
    "DataError",
    "IdMap",
    "Interactions",
    "NotFittedError",
    "Recommender",
    "TrainConfig",
    "UnknownIdError",
    "__version__",
    "create_model",
    "load",
    "load_model",
    "model_class",
    "save_model",
]

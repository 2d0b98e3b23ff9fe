"""rectune: pretrain, fine-tune, incrementally update, evaluate and serve recommender models."""

from __future__ import annotations

from rectune.config import ConfigBase
from rectune.data import IdMap, Interactions
from rectune.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    NotFittedError,
    UnknownIdError,
)
from rectune.models import Recommender, create_model, model_class
from rectune.registry import load_model, save_model
from rectune.training import TrainConfig
from rectune.version import __version__

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

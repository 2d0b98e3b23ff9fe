"""The models: `Recommender` (the template every model follows) and one package per family.

Families: ``baselines`` (Popularity, Baseline, Blend), ``knn`` (UserKNN, ItemKNN, ContentKNN),
``mf`` (SVD, SVDpp, NMF, BPMF), ``implicit`` (ALS, BPR, EASE), ``neural`` (NCF, TwoTower, SASRec),
``text`` (TextRecommender), ``hybrid`` (TextHybrid). Every model class and config is also
importable from here, e.g. ``from rectune.models import SVD``; the family is imported on first
use only, so numba kernels and torch load on demand (`create_model` and `model_class` look
names up the same way).
"""

from __future__ import annotations

import importlib
from typing import Any

from rectune.models.base import Recommender
from rectune.registry import catalog
from rectune.registry.catalog import MODELS, register_model

#: Public names of the families, re-exported here on first access.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "baselines": ("Popularity", "PopularityConfig", "Baseline", "BaselineConfig", "Blend",
                  "BlendConfig"),
    "knn": ("UserKNN", "UserKNNConfig", "ItemKNN", "ItemKNNConfig", "KNNConfig", "ContentKNN",
            "ContentKNNConfig"),
    "mf": ("SVD", "SVDConfig", "SVDpp", "SVDppConfig", "NMF", "NMFConfig", "BPMF", "BPMFConfig"),
    "implicit": ("ALS", "ALSConfig", "BPR", "BPRConfig", "EASE", "EASEConfig"),
    "neural": ("TorchRecommender", "NCF", "NCFConfig", "TwoTower", "TwoTowerConfig", "SASRec",
               "SASRecConfig"),
    "text": ("TextRecommender", "TextRecommenderConfig"),
    "hybrid": ("TextHybrid", "TextHybridConfig", "ALSText", "ALSTextConfig"),
}  # fmt: skip
_HOME = {name: family for family, names in _FAMILIES.items() for name in names}


def model_class(name: str) -> type[Recommender]:
    """The class registered under a CLI name (or a class name such as ``SVD``)."""
    return catalog.model_class(name)


def create_model(name: str, **params: Any) -> Recommender:
    """Instantiate a model by CLI name with validated hyperparameters."""
    return model_class(name)(**params)


def __getattr__(name: str) -> Any:
    family = _HOME.get(name)
    if family is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{family}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "MODELS",
    "Recommender",
    "create_model",
    "model_class",
    "register_model",
    *_HOME,
]

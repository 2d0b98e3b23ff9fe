"""Model registry: CLI names to model classes, imported lazily so numba/torch load on demand."""

from __future__ import annotations

import importlib
from typing import Any

from rectune.errors import ConfigError
from rectune.models.base import Recommender

#: CLI name -> "module:Class" under rectune.models.
MODELS: dict[str, str] = {
    "popularity": "baselines:Popularity",
    "baseline": "baselines:Baseline",
    "user-knn": "knn:UserKNN",
    "item-knn": "knn:ItemKNN",
    "svd": "svd:SVD",
    "svdpp": "svdpp:SVDpp",
    "nmf": "nmf:NMF",
    "bpmf": "bpmf:BPMF",
    "als": "als:ALS",
    "bpr": "bpr:BPR",
    "ease": "ease:EASE",
    "ncf": "ncf:NCF",
    "two-tower": "two_tower:TwoTower",
    "sasrec": "sasrec:SASRec",
    "blend": "blend:Blend",
    "text": "text_rec:TextRecommender",
    "content-knn": "content_knn:ContentKNN",
}


def model_class(name: str) -> type[Recommender]:
    """The class registered under a CLI name (or a class name such as ``SVD``)."""
    target = MODELS.get(name)
    if target is None:
        by_class = {v.split(":")[1]: v for v in MODELS.values()}
        target = by_class.get(name)
    if target is None:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(f"rectune.models.{module}"), cls)


def create_model(name: str, **params: Any) -> Recommender:
    """Instantiate a model by CLI name with validated hyperparameters."""
    return model_class(name)(**params)


__all__ = ["MODELS", "Recommender", "create_model", "model_class"]

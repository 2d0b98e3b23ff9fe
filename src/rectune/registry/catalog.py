"""The catalogue of model names: CLI name -> where its class lives, imported on first use.

Loading a model by name (`create_model`, `rectune.load`) imports only that model's family
(``rectune.models.mf`` for ``svd``...), so a fit of one model never pays for another family's
compiled kernels or for torch. The registry depends on no model module: classes are found by
their dotted path, like plugins.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from rectune.config import ConfigBase
from rectune.data.idmap import IdMap
from rectune.errors import ConfigError

#: Package the `MODELS` paths are relative to.
MODEL_PACKAGE = "rectune.models"

#: CLI name -> "family:Class" under `MODEL_PACKAGE`.
MODELS: dict[str, str] = {
    "popularity": "baselines:Popularity",
    "baseline": "baselines:Baseline",
    "user-knn": "knn:UserKNN",
    "item-knn": "knn:ItemKNN",
    "svd": "mf:SVD",
    "svdpp": "mf:SVDpp",
    "nmf": "mf:NMF",
    "bpmf": "mf:BPMF",
    "als": "implicit:ALS",
    "bpr": "implicit:BPR",
    "ease": "implicit:EASE",
    "ncf": "neural:NCF",
    "two-tower": "neural:TwoTower",
    "sasrec": "neural:SASRec",
    "blend": "baselines:Blend",
    "text": "text:TextRecommender",
    "content-knn": "knn:ContentKNN",
}


class SavedModel(Protocol):
    """What an artifact is written from and read into (every `Recommender`)."""

    name: str
    config: ConfigBase
    user_map_: IdMap
    item_map_: IdMap
    data_kind_: str
    fit_info_: dict[str, Any]
    artifact_: dict[str, Any] | None

    @property
    def is_fitted(self) -> bool: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: Any, user_map: IdMap, item_map: IdMap, kind: str) -> Any: ...


def model_path(name: str) -> tuple[str, str]:
    """(module, class name) of a CLI name or a class name such as ``SVD``."""
    target = MODELS.get(name)
    if target is None:
        by_class = {v.split(":")[1]: v for v in MODELS.values()}
        target = by_class.get(name)
    if target is None:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    module, cls = target.split(":")
    return f"{MODEL_PACKAGE}.{module}", cls


def model_class(name: str) -> type[Any]:
    """The class registered under a CLI name (or a class name), its family imported now."""
    module, cls = model_path(name)
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def create_model(name: str, **params: Any) -> Any:
    """Instantiate a model by CLI name with validated hyperparameters."""
    return model_class(name)(**params)

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
    "text-hybrid": "hybrid:TextHybrid",
    "als-text": "hybrid:ALSText",
}


#: Models registered at run time (`register_model`): name -> class.
_REGISTERED: dict[str, type[Any]] = {}


def register_model(cls: type[Any]) -> type[Any]:
    """Make a model class defined outside rectune loadable by name (a class decorator).

    `create_model`, `model_class` and `rectune.load` then find it under its ``name`` (and its
    class name), like a built-in model; the names of built-in models cannot be taken.
    """
    name = getattr(cls, "name", "")
    if not name:
        raise ConfigError(f"{cls.__name__} has no name: set the class attribute `name`")
    if name in MODELS or cls.__name__ in {v.split(":")[1] for v in MODELS.values()}:
        raise ConfigError(f"model name {name!r} ({cls.__name__}) is taken by a built-in model")
    _REGISTERED[name] = _REGISTERED[cls.__name__] = cls
    return cls


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
        known = ", ".join([*MODELS, *(n for n, c in _REGISTERED.items() if n != c.__name__)])
        raise ConfigError(f"unknown model {name!r}; known models: {known}")
    module, cls = target.split(":")
    return f"{MODEL_PACKAGE}.{module}", cls


def model_class(name: str) -> type[Any]:
    """The class registered under a CLI name (or a class name), its family imported now."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    module, cls = model_path(name)
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def create_model(name: str, **params: Any) -> Any:
    """Instantiate a model by CLI name with validated hyperparameters."""
    return model_class(name)(**params)

"""What every compression method shares: copying a model, support checks, the record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rectune.errors import ConfigError
from rectune.models.base import Recommender
from rectune.registry.codecs import encode_state, pack_plan

METHODS = ("int8", "fp16", "prune", "distill")

#: Models whose learned state is factor or embedding tables (int8 / fp16 apply).
TABLE_MODELS = frozenset(
    {"svd", "svdpp", "nmf", "bpmf", "als", "bpr", "ease", "ncf", "two-tower", "sasrec", "text"}
)
#: Models whose learned state can be pruned (neighbour lists, item-item weights).
PRUNE_MODELS = frozenset({"item-knn", "user-knn", "ease"})
#: Why a method does not apply to a model family (the hint of the error).
_HINTS = {
    "knn": "its state is a similarity matrix over neighbour lists: use method 'prune'",
    "none": "it has no factor or embedding tables to quantize",
    "prune": "pruning applies to kNN neighbour lists and EASE weights (item-knn, user-knn, ease)",
}


def refuse(model: Recommender, method: str, why: str) -> ConfigError:
    """The error of a method (or option) the model cannot honour, naming both."""
    return ConfigError(f"compress --method {method} cannot apply to {model.name}: {why}")


def check_method(model: Recommender, method: str) -> None:
    """Refuse a method the model cannot honour (before anything is computed)."""
    if method not in METHODS:
        raise ConfigError(f"unknown compression method {method!r}; one of {', '.join(METHODS)}")
    if not model.is_fitted:
        raise ConfigError(f"compress needs a fitted model; {model.name} is not fitted")
    if method in ("int8", "fp16") and model.name not in TABLE_MODELS:
        hint = "knn" if model.name.endswith("knn") else "none"
        raise refuse(model, method, _HINTS[hint])
    if method == "prune" and model.name not in PRUNE_MODELS:
        raise refuse(model, method, _HINTS["prune"])


def check_options(
    model: Recommender, method: str, options: Mapping[str, Any], allowed: tuple[str, ...]
) -> None:
    """Refuse options the method does not take for this model."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) or "no options"
        raise refuse(model, method, f"unknown option(s) {unknown} (it takes {takes})")


def copy_model(model: Recommender, state: Mapping[str, np.ndarray] | None = None) -> Recommender:
    """A new model of the same class and config holding ``state`` (default: a copy of the
    model's), its id maps, data kind and fit record; built through `set_state`, as `load`."""
    state = state if state is not None else model.get_state()
    new = type(model)(model.config)
    new.set_state(
        {k: np.array(v, copy=True) for k, v in state.items()},
        model.user_map_,
        model.item_map_,
        model.data_kind_,
    )
    info = dict(model.fit_info_)
    if model.artifact_:
        info["parent"] = {"id": model.artifact_.get("id"), "path": model.artifact_.get("path")}
    new.fit_info_ = info
    return new


def finish(
    original: Recommender,
    new: Recommender,
    method: str,
    options: Mapping[str, Any],
    plan: Mapping[str, str],
    **extra: Any,
) -> Recommender:
    """Attach the compression record and storage plan (lossless packing of the rest added)."""
    before = original.get_state()
    state = new.get_state()
    full = {**pack_plan(state, skip=plan), **plan}
    stored, meta = encode_state(state, full)
    tensors = {}
    for key, rec in meta.items():
        if rec["codec"] in ("pack", "utf8"):
            continue
        parts = [v for k, v in stored.items() if k == key or k.startswith(key + "@")]
        same = method != "distill" and key in before  # a student's tables are its own
        entry = {
            "codec": rec["codec"],
            "bytes_before": int(np.asarray(state[key]).nbytes),
            "bytes_after": int(sum(p.nbytes for p in parts)),
        }
        lossy = rec["codec"] in ("int8", "fp16", "sparse")
        if same and lossy and np.shape(before[key]) == np.shape(state[key]):
            diff = np.abs(np.asarray(before[key], np.float64) - np.asarray(state[key], np.float64))
            entry["max_abs_error"] = float(diff.max()) if diff.size else 0.0
        tensors[key] = entry
    b0 = int(sum(np.asarray(v).nbytes for v in before.values()))
    b1 = int(sum(v.nbytes for v in stored.values()))
    new.compression_ = {
        "method": method,
        "options": dict(options),
        "bytes_before": b0,
        "bytes_after": b1,
        "ratio": b0 / b1 if b1 else None,
        "tensors": tensors,
        "packed": sorted(k for k, r in meta.items() if r["codec"] in ("pack", "utf8")),
        **extra,
        "storage": dict(full),
    }
    return new

"""`fit_info`: the one record of how a model came to be (``model.fit_info_``), same keys always.

Written by fit, fine-tuning, updates, distributed training and `load`; read by `save` (lineage,
training settings) and by the next fine-tune (who its parent is).
"""

from __future__ import annotations

from typing import Any

from rectune.data.interactions import Interactions
from rectune.training.config import TrainConfig

#: Every key of a fit record, in order.
FIT_INFO_KEYS = (
    "fit_seconds",
    "n_interactions",
    "data_fingerprint",
    "train",
    "strategy",
    "parent",
    "epochs_run",
    "validation_history",
    "new_users",
    "new_items",
    "updates",
    "update_seconds",
    "distributed",
)


def fit_info(
    *,
    seconds: float | None,
    data: Interactions | None = None,
    train: TrainConfig | dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A fit record: ``seconds`` of training on ``data`` under ``train``, plus other ``fields``.

    ``data`` sets ``n_interactions`` and ``data_fingerprint`` (either may also be passed
    directly); keys not given are None (``validation_history``: empty, counts: 0).
    """
    unknown = set(fields) - set(FIT_INFO_KEYS)
    if unknown:
        raise TypeError(f"fit_info got unknown keys {sorted(unknown)}")
    info: dict[str, Any] = dict.fromkeys(FIT_INFO_KEYS)
    info.update(validation_history=[], new_users=0, new_items=0, updates=0)
    info["fit_seconds"] = seconds
    if data is not None:
        info["n_interactions"] = len(data)
        info["data_fingerprint"] = data.fingerprint()
    info["train"] = train.to_dict() if isinstance(train, TrainConfig) else train
    info.update(fields)
    return info

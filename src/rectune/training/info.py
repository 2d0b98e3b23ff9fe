"""`fit_info`: the one record of how a model came to be (``model.fit_info_``), same keys always.

Written by fit, fine-tuning, updates, distributed training and `load`; read by `save` (lineage,
training settings) and by the next fine-tune (who its parent is).

The data fingerprint is computed when the record is first read (`resolved`, which the model's
``fit_info_`` calls), not when it is written: the fingerprint is a compiled hash, and a fit that
loads no other kernel (popularity, EASE, the torch models) would otherwise pay numba's one-off
set-up in a fresh process (0.1-0.3 s) for a value only read when the model is saved, fine-tuned
or inspected.
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
    "epoch_history",
    "new_users",
    "new_items",
    "updates",
    "update_seconds",
    "distributed",
)


class PendingFingerprint:
    """The fingerprint of the rows a model was trained on, computed on first read.

    Holds the training `Interactions` until then (rectune never modifies rows in place).
    """

    __slots__ = ("_data",)

    def __init__(self, data: Interactions) -> None:
        self._data = data

    def value(self) -> str:
        """The fingerprint (`Interactions.fingerprint`) of the training rows."""
        return self._data.fingerprint()


def resolved(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with a pending data fingerprint computed and stored in place (returns ``info``)."""
    pending = info.get("data_fingerprint")
    if isinstance(pending, PendingFingerprint):
        info["data_fingerprint"] = pending.value()
    return info


def fit_info(
    *,
    seconds: float | None,
    data: Interactions | None = None,
    train: TrainConfig | dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A fit record: ``seconds`` of training on ``data`` under ``train``, plus other ``fields``.

    ``data`` sets ``n_interactions`` and ``data_fingerprint`` (either may also be passed
    directly); keys not given are None (``validation_history``, ``epoch_history``: empty;
    counts: 0). The
    fingerprint of ``data`` stays pending until `resolved` (a model's ``fit_info_`` resolves it).
    """
    unknown = set(fields) - set(FIT_INFO_KEYS)
    if unknown:
        raise TypeError(f"fit_info got unknown keys {sorted(unknown)}")
    info: dict[str, Any] = dict.fromkeys(FIT_INFO_KEYS)
    info.update(validation_history=[], epoch_history=[], new_users=0, new_items=0, updates=0)
    info["fit_seconds"] = seconds
    if data is not None:
        info["n_interactions"] = len(data)
        info["data_fingerprint"] = PendingFingerprint(data)
    info["train"] = train.to_dict() if isinstance(train, TrainConfig) else train
    info.update(fields)
    return info

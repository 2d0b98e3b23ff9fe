"""Micro-batch updates: fold new events into a model and write a new artifact version.

`MicroBatchUpdater` feeds events to `Recommender.partial_fit` in time-ordered batches (the way a
service folds in what happened since the last update); `update_artifact` does the same to a
saved artifact, first adding catalogue items that have text but no interactions yet
(`Recommender.add_items`), and writes the result as a new version whose lineage names the
parent. The parent directory is never touched: the new version goes to another directory,
written atomically, and nothing is written when the events or items are invalid.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rectune.data.interactions import Interactions
from rectune.data.loaders.items import ItemRecords, load_items
from rectune.errors import ConfigError, DataError
from rectune.models.base import Recommender
from rectune.registry.artifacts import load_model, read_json, save_model
from rectune.training.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class UpdateResult:
    """What an update did: batches, events, new ids, time, and the artifact it wrote."""

    batches: int
    events: int
    new_users: int
    new_items: int
    seconds: float
    batch_seconds: list[float] = field(default_factory=list)
    artifact_id: str | None = None
    path: str | None = None
    parent: dict[str, Any] | None = None
    items_added: int = 0
    """Catalogue items added without interactions (`Recommender.add_items`)."""
    items_known: int = 0
    """Rows of the items file the model already knew (their text served the text map)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "items_added": self.items_added,
            "items_known": self.items_known,
            "artifact_id": self.artifact_id,
            "path": self.path,
            "parent": self.parent,
            "batches": self.batches,
            "events": self.events,
            "new_users": self.new_users,
            "new_items": self.new_items,
            "seconds": self.seconds,
            "batch_seconds": self.batch_seconds,
        }


class MicroBatchUpdater:
    """Fold events into a fitted model with `partial_fit`, ``batch_size`` events at a time.

    Parameters
    ----------
    model
        A fitted model that supports `partial_fit`.
    batch_size
        Events per `partial_fit` call (None: all events in one call).
    train
        Training options passed to every `partial_fit`.

    Examples
    --------
    >>> from rectune import Interactions
    >>> from rectune.models import create_model
    >>> old = Interactions.from_raw([1, 1, 2], ["a", "b", "a"], [5, 3, 4])
    >>> updater = MicroBatchUpdater(create_model("baseline").fit(old), batch_size=1)
    >>> res = updater.update(Interactions.from_raw([3, 3], ["a", "c"], [2, 1]))
    >>> res.batches, res.new_users, res.new_items
    (2, 1, 1)
    """

    def __init__(
        self, model: Recommender, batch_size: int | None = None, train: TrainConfig | None = None
    ) -> None:
        model._check_fitted()
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size!r}")
        self.model = model
        self.batch_size = batch_size
        self.train = train or TrainConfig()

    def update(self, events: Interactions) -> UpdateResult:
        """Validate ``events``, sort them by time, and fold them in batch by batch."""
        events = check_events(self.model, events)
        n = len(events)
        size = self.batch_size or n
        n_u0, n_i0 = len(self.model.user_map_), len(self.model.item_map_)
        t0 = time.perf_counter()
        seconds: list[float] = []
        for start in range(0, n, size):
            t1 = time.perf_counter()
            self.model.partial_fit(events.subset(np.arange(start, min(start + size, n))))
            seconds.append(time.perf_counter() - t1)
        total = time.perf_counter() - t0
        logger.info("folded %d events in %d batches in %.3fs", n, len(seconds), total)
        return UpdateResult(
            batches=len(seconds),
            events=n,
            new_users=len(self.model.user_map_) - n_u0,
            new_items=len(self.model.item_map_) - n_i0,
            seconds=total,
            batch_seconds=seconds,
        )


def check_events(model: Recommender, events: Interactions) -> Interactions:
    """Reject events a model cannot take (empty, non-finite, wrong kind); sort them by time."""
    if len(events) == 0:
        raise DataError("no events to update with", file=events.source)
    bad = np.flatnonzero(~np.isfinite(events.values))
    if bad.size:
        raise DataError(
            f"{bad.size} event(s) have a non-finite value (first at row {bad[0] + 1})",
            file=events.source,
            field="rating",
        )
    if events.kind != model.data_kind_:
        raise DataError(
            f"events hold {events.kind} values but the model was trained on {model.data_kind_} "
            "values (name the value column 'rating' or 'weight' accordingly)",
            file=events.source,
        )
    if events.timestamps is not None:
        events = events.subset(np.argsort(events.timestamps, kind="stable"))
    return events


def update_artifact(
    parent: str | os.PathLike[str],
    events: Interactions | None,
    out: str | os.PathLike[str],
    *,
    batch_size: int | None = None,
    train: TrainConfig | None = None,
    metrics: dict[str, Any] | None = None,
    items: str | os.PathLike[str] | ItemRecords | None = None,
    item_text: str | os.PathLike[str] | None = None,
    new_ids: str = "text",
    text_encoder: str = "minilm",
) -> UpdateResult:
    """Load the artifact ``parent``, add ``items``, fold ``events`` in, save to ``out``.

    ``items`` (an item records file or `ItemRecords`: id, text, features) are added with
    `Recommender.add_items` and ``new_ids``; the text map is fitted on the known items' text,
    taken from the rows of ``items`` the model already knows and from ``item_text`` (an item
    records file, or a dataset that `rectune.data.loaders.load` reads). The new version's
    ``lineage.json`` names the parent (id, path, checksum) and records what was done as its
    strategy (method ``add_items``, ``partial_fit`` or both). ``out`` must differ from
    ``parent``; on invalid events or items nothing is written.
    """
    if events is None and items is None:
        raise ConfigError("nothing to update with: give events, items or both")
    if Path(out).resolve() == Path(parent).resolve():
        raise ConfigError(
            f"--out {out} is the parent artifact; write the new version to another directory "
            "so the parent is kept"
        )
    model = load_model(parent)
    steps: dict[str, Any] = {}
    added = known = 0
    if items is not None:
        record = add_catalogue_items(model, items, item_text, new_ids, text_encoder)
        added, known = record["items"], record["known"]
        steps["add_items"] = record
    result = UpdateResult(0, 0, 0, 0, 0.0)
    if events is not None:
        result = MicroBatchUpdater(model, batch_size=batch_size, train=train).update(events)
        steps["partial_fit"] = {
            "method": "partial_fit",
            "batch_size": batch_size,
            "batches": result.batches,
            "events": result.events,
        }
    if len(steps) == 1:
        strategy = next(iter(steps.values()))
    else:  # items first, then the events (which may already touch the new items)
        strategy = {"method": "+".join(steps), **steps}
    result.items_added, result.items_known = added, known
    result.new_items += added
    result.artifact_id = save_model(model, out, metrics=metrics, parent=parent, strategy=strategy)
    result.path = str(out)
    result.parent = read_json(out, "lineage.json")["parent"]
    return result


def add_catalogue_items(
    model: Recommender,
    items: str | os.PathLike[str] | ItemRecords,
    item_text: str | os.PathLike[str] | None = None,
    new_ids: str = "text",
    text_encoder: str = "minilm",
) -> dict[str, Any]:
    """Add the items of an item records file (or `ItemRecords`) to ``model``; the record of
    what was added (the ``add_items`` strategy of the new version's lineage)."""
    int_ids = model.item_map_.dtype == "int64"
    records = items if isinstance(items, ItemRecords) else load_items(items, int_ids=int_ids)
    text, features = records.text, records.features
    if item_text is not None:
        base_text, base_features = _catalogue(item_text, int_ids)
        text = _overlay(base_text, text)
        features = _overlay(base_features, features)
    t0 = time.perf_counter()
    before = set(records.ids[model.item_map_.index_of(records.ids) >= 0].tolist())
    try:
        n = model.add_items(
            records.ids,
            item_text=text,
            item_features=features,
            new_ids=new_ids,
            text_encoder=text_encoder,
        )
    except ConfigError as exc:
        if "known items" not in str(exc):
            raise
        raise ConfigError(
            f"{exc}: list them in the items file too, or give the catalogue as item_text "
            "(CLI: --item-text FILE|DIR)"
        ) from None
    new = [i for i in records.ids.tolist() if i not in before]
    logger.info("added %d catalogue items in %.3fs", n, time.perf_counter() - t0)
    return {
        "method": "add_items",
        "new_ids": new_ids,
        "text_encoder": text_encoder if new_ids == "text" else None,
        "items": n,
        "known": len(before),
        "item_ids": new,
        "source": records.source,
    }


def _catalogue(
    path: str | os.PathLike[str], int_ids: bool
) -> tuple[pd.Series | None, pd.DataFrame | None]:
    """Item text and features of a dataset directory (a loader format) or an items file."""
    if Path(path).is_dir():
        from rectune.data.loaders import load

        data = load(path)
        return data.item_text, data.item_features
    records = load_items(path, int_ids=int_ids)
    return records.text, records.features


def _overlay(base: Any, top: Any) -> Any:
    """``top`` (the items file) over ``base`` (the catalogue), row by row."""
    if base is None or top is None:
        return top if base is None else base
    return pd.concat([base[~base.index.isin(top.index)], top])


__all__ = [
    "MicroBatchUpdater",
    "UpdateResult",
    "add_catalogue_items",
    "check_events",
    "update_artifact",
]

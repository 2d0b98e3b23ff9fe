"""What one updater cycle did (`Cycle`), and the pieces of a cycle that need no updater state.

Used by `rectune.online.live.Updater`: splitting a cycle's events into the learned prefix and
the held-out newest events, prequential scoring, rows from text for new items, Gorse's full
retrain, writing a version, the in-memory check of a candidate that is folded into the live
model without being published (``publish_every`` > 1), and small helpers.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.evaluation.metric_names import parse_metrics, predicts_ratings
from rectune.models import create_model
from rectune.models.base import Recommender
from rectune.online._catalogue import ItemTextCatalogue
from rectune.online.guard import GuardCheck, GuardRule, check_guard
from rectune.online.registry import Registry, events_range
from rectune.online.store import EventBatch, EventStore
from rectune.online.stream import score_chunk
from rectune.registry.artifacts import save_model
from rectune.training.config import TrainConfig

logger = logging.getLogger(__name__)

RATING_GUARD = "rmse<=+0.005"
RANKING_GUARD = "ndcg@10>=-0.01"
BATCH_FIELDS = ("seq", "event_id", "user_id", "item_id", "value", "timestamp")


@dataclass
class Cycle:
    """What one cycle did: the range it consumed, the version it wrote, the promotion.

    ``version`` is None for a cycle that folded its events into the live model without
    publishing (``publish_every`` > 1); ``live`` says whether its candidate became the live
    model (promoted, or accepted in memory), ``promoted`` whether a version was promoted.
    """

    policy: str
    base_version: int
    first_seq: int
    last_seq: int
    events: int
    holdout: int
    new_items_from_text: int
    prequential: dict[str, float | None]
    version: int | None = None
    promoted: bool = False
    reason: str | None = None
    seconds: float = 0.0
    finished_at: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    live: bool = False
    published: bool = False
    """Whether this cycle wrote a version (every cycle with ``publish_every`` 1)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def split(
    batch: EventBatch, events: Interactions, last_seq: int, holdout: float
) -> tuple[int, Interactions, Interactions]:
    """The learned prefix (through seq ``cut``) and the held-out newest events."""
    n = len(events)
    if n < 2:
        return last_seq, events, events.subset(np.arange(0))
    k = max(1, round(holdout * n))
    cut = int(batch.seq[n - k - 1])
    return cut, events.subset(np.arange(n - k)), events.subset(np.arange(n - k, n))


def check_in_memory(
    candidate: Recommender,
    live: Recommender,
    rules: list[GuardRule] | None,
    held: Interactions,
) -> str | None:
    """Why ``candidate`` may not replace the live model in memory (None: it may).

    The checks a promotion makes, on the model instead of its files: every learned array
    finite, then the guard ``rules`` on the held-out events against the live model.
    """
    for key, arr in candidate.get_state().items():
        arr = np.asarray(arr)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            return f"entry {key!r} has non-finite values"
    if rules is None or not len(held):
        return None
    checks: list[GuardCheck] = check_guard(rules, candidate, live, held)
    failed = [c for c in checks if not c.passed]
    return "; ".join(c.describe() for c in failed) if failed else None


def prequential(
    model: Recommender, events: Interactions, metrics: str = "auto"
) -> dict[str, float | None]:
    """Metrics of ``model`` on events it has not learned (the live accuracy curve)."""
    if not len(events):
        return {}
    if metrics != "auto":
        specs = parse_metrics(metrics.split(","))
    else:
        specs = parse_metrics(["rmse", "mae"] if rates(model) else ["ndcg@10", "recall@10"])
    res = score_chunk(model, events, specs)
    out = {k: finite(v) for k, v in res.metrics.items()}
    return {**out, "n": float(len(events))}


def add_text_items(model: Recommender, records: pd.DataFrame, catalogue: ItemTextCatalogue) -> int:
    """Rows from text for items whose record arrived and that the model does not know."""
    if records is None or not len(records):
        return 0
    texts = records.dropna(subset=["text"])
    known = model.item_map_.index_of(texts["item_id"].to_numpy()) >= 0
    new = texts[~known]
    if not len(new):
        return 0
    try:
        return int(model.add_items(new["item_id"].to_numpy(), item_text=catalogue.text()))
    except ConfigError as exc:  # a model that cannot start rows from text says so once
        logger.warning("%s: items from text skipped: %s", model.name, exc)
        return 0


def retrain(
    store: EventStore,
    champion: Recommender,
    cut: int,
    base_data: Interactions | None,
    train: TrainConfig,
) -> tuple[Recommender, int]:
    """A fresh fit of the champion's model and config on ``base_data`` plus the log through
    ``cut`` (Gorse's policy); the model and the number of log events it learned."""
    log = store.read(0, None)
    keep = log.seq <= cut
    sub = EventBatch(*(getattr(log, f)[keep] for f in BATCH_FIELDS))
    data = sub.to_interactions(kind=champion.data_kind_)
    if base_data is not None:
        data = base_data.concat(data) if len(data) else base_data
    model = create_model(champion.name, **champion.config.to_dict())
    return model.fit(data, train=train), len(sub)


def write_version(
    registry: Registry,
    model: Recommender,
    base: int,
    cycle: Cycle,
    fold_range: tuple[int, int],
    folds: int,
) -> int:
    """Write ``model`` as a new version (parent ``base``) holding the events of
    ``fold_range`` (first_seq, count) through the cycle's last_seq, learned in ``folds``
    cycles; fsynced, moved in by one rename, its checksums those of the bytes written."""
    first, count = fold_range
    events = events_range(first, cycle.last_seq, count)
    metrics = {
        "prequential": cycle.prequential,
        "update": {
            "policy": cycle.policy,
            "base_version": base,
            "base_seq": first - 1,
            "holdout": cycle.holdout,
            "new_items_from_text": cycle.new_items_from_text,
            "folds": folds,
        },
    }
    tmp = Path(tempfile.mkdtemp(prefix=".updater-", dir=registry.root))
    try:
        info = registry.resolve(base)
        save_model(
            model,
            tmp / "model",
            metrics=metrics,
            parent={"id": info.artifact_id, "path": str(info.path), "checksum": info.checksum},
            strategy={"method": cycle.policy, "events": cycle.events},
            durable=True,
        )
        written = (model.artifact_ or {}).get("checksum")
        return registry.add(
            tmp / "model", parent=base, events=events, metrics=metrics, move=True,
            checksum=written,
        )  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def last_record_seq(records: pd.DataFrame, default: int) -> int:
    return int(records["seq"].max()) if records is not None and len(records) else default


def rates(model: Recommender) -> bool:
    """Whether the model's scores are rating estimates (RMSE means something)."""
    return model.data_kind_ == "rating" and predicts_ratings(model) is not False


def default_guard(model: Recommender) -> str:
    return RATING_GUARD if rates(model) else RANKING_GUARD


def finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)

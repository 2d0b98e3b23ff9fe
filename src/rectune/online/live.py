"""`Updater`: keep a registry alias fresh from an event store, exactly once.

Each cycle starts from the alias's target (the champion) and the last store sequence number
it has consumed (`consumed_seq`: its version's ``events.last_seq``, inherited along lineage).
It reads what the store holds after that, scores the events it is about to learn with the
champion, which has not seen them (prequential metrics: the live accuracy curve; each event is
scored once, in the cycle that learns it), gives items that arrived
with text and no interactions rows from their text (`Recommender.add_items`), folds the events
in (``partial``: `partial_fit`; ``finetune``: `finetune` with a strategy; ``retrain``: a fresh
fit on the whole log), writes the result as a new version whose consumed range starts right
after its parent's, and promotes it through the guard, scored on the newest events of the
cycle (the *holdout*, which neither version has learned; it opens the next cycle's range, so
every event is still learned exactly once).

Exactly once after ``kill -9``: nothing is written before the version is published by the
registry's one rename, and a restart begins again from the champion. A version whose
promotion never happened stays in the registry unaliased; its range overlaps its successor's,
but each version's range begins one past its parent's (`check_lineage`), so the lineage
the champion's events came through applies every event once. Only one updater may run per
registry (an exclusive lock, ``REG/updater.lock``).
"""

from __future__ import annotations

import copy
import fcntl
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, RectuneError, RegistryError
from rectune.evaluation.metric_names import parse_metrics, predicts_ratings
from rectune.models import create_model
from rectune.models.base import Recommender
from rectune.online._catalogue import ItemTextCatalogue
from rectune.online.guard import GuardRule, parse_guard
from rectune.online.registry import Registry, events_range
from rectune.online.store import EventBatch, EventStore
from rectune.online.stream import score_chunk
from rectune.registry.artifacts import save_model
from rectune.training.config import TrainConfig

logger = logging.getLogger(__name__)
Policy = Literal["partial", "finetune", "retrain"]
POLICIES: tuple[str, ...] = ("partial", "finetune", "retrain")
RATING_GUARD = "rmse<=+0.005"
RANKING_GUARD = "ndcg@10>=-0.01"


@dataclass
class Cycle:
    """What one cycle did: the range it consumed, the version it wrote, the promotion."""

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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Updater:
    """Fold the store's new events into ``alias``'s target and promote through the guard.

    Parameters
    ----------
    registry, store
        A `Registry` (or its directory) and an `EventStore` (or its URL).
    every_events, every_seconds
        A cycle runs once this many events wait, or once the oldest waiting event has waited
        this long (whichever comes first).
    policy
        ``partial`` (`partial_fit`), ``finetune`` (with ``strategy`` and ``train``) or
        ``retrain`` (a fresh fit of the champion's model and config on ``base_data`` plus the
        whole log, Gorse's policy).
    guard
        Promotion guard (default ``rmse<=+0.005`` for rating models, ``ndcg@10>=-0.01`` for
        ranking ones), scored on the cycle's ``holdout`` fraction of newest events; ``"none"``
        promotes every candidate that verifies (no accuracy check, as Gorse does).
    retrain_every_events
        Also retrain from scratch once this many events were consumed since the last retrain.
    base_data
        Interactions the first champion was trained on, outside the store (retrains use it).
    max_batch
        At most this many store rows (events and records) per cycle, so a backlog is worked
        through in bounded steps.
    """

    def __init__(
        self,
        registry: Registry | str | os.PathLike[str],
        store: EventStore | str,
        *,
        every_events: int = 1000,
        every_seconds: float = 10.0,
        policy: Policy = "partial",
        strategy: str | None = None,
        train: TrainConfig | None = None,
        guard: str | None = None,
        alias: str = "champion",
        holdout: float = 0.1,
        retrain_every_events: int | None = None,
        base_data: Interactions | None = None,
        max_batch: int = 100_000,
        metrics: str = "auto",
        keep_versions: int | None = 50,
    ) -> None:
        if policy not in POLICIES:
            raise ConfigError(f"policy {policy!r}: choose one of {', '.join(POLICIES)}")
        if every_events < 1 or every_seconds <= 0 or max_batch < 2:
            raise ConfigError(
                "every_events must be >= 1, every_seconds > 0 and max_batch >= 2, got "
                f"{every_events}, {every_seconds}, {max_batch}"
            )
        if not 0.0 < holdout < 1.0:
            raise ConfigError(f"holdout must be a fraction in (0, 1), got {holdout}")
        if strategy is not None and policy != "finetune":
            raise ConfigError(f"strategy {strategy!r} needs policy finetune, not {policy}")
        if retrain_every_events is not None and retrain_every_events < 1:
            raise ConfigError(f"retrain_every_events must be >= 1, got {retrain_every_events}")
        self.registry = registry if isinstance(registry, Registry) else Registry(registry)
        self.store = store if isinstance(store, EventStore) else EventStore(store)
        self.every_events, self.every_seconds = every_events, every_seconds
        self.policy, self.strategy, self.alias = policy, strategy, alias
        self.train = train or TrainConfig()
        self.holdout, self.max_batch = holdout, max_batch
        self.retrain_every_events, self.base_data = retrain_every_events, base_data
        self.keep_versions = keep_versions
        self._guard_text, self._metrics_text = guard, metrics
        if guard is not None and guard != "none":
            parse_guard(guard)  # a bad guard fails now, not at the first promotion
        self.cycles: list[Cycle] = []
        self._model: Recommender | None = None
        self._version: int | None = None
        self._waiting_since: float | None = None
        self._since_retrain = 0
        self._refused_at: int | None = None
        self._read_seq = 0
        self._retrain_events = 0
        self._lock_fd: int | None = None
        self._catalogue = ItemTextCatalogue(store, base_data)

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        stop: threading.Event | None = None,
        *,
        max_cycles: int | None = None,
        on_cycle: Callable[[Cycle | None], None] | None = None,
        on_error: Callable[[Exception, float], float] | None = None,
    ) -> None:
        """Run cycles as they fall due until ``stop`` is set (or ``max_cycles`` ran).

        ``on_cycle`` sees the result of every step (None: nothing was due). Without
        ``on_error`` a failed step raises; with it the loop asks ``on_error(exc, backoff)`` how
        many seconds to wait and retries (``backoff`` doubles per consecutive failure, 1-60 s;
        a failed cycle published nothing, so retrying is safe).
        """
        stop = stop or threading.Event()
        done, backoff = 0, 1.0
        while not stop.is_set() and (max_cycles is None or done < max_cycles):
            try:
                cycle = self.step()
            except Exception as exc:
                if on_error is None:
                    raise
                stop.wait(on_error(exc, backoff))
                backoff = min(backoff * 2, 60.0)
                continue
            backoff = 1.0
            if on_cycle is not None:
                on_cycle(cycle)
            if cycle is not None:
                done += 1
            else:
                stop.wait(min(0.05, self.every_seconds / 4))

    def run_once(self) -> list[Cycle]:
        """Catch up: run cycles (due or not) until the champion holds every stored event, or
        until the guard refuses a candidate (retrying on the same events would be refused
        again; `status` then shows the lag)."""
        out = []
        while True:
            cycle = self.step(force=True)
            if cycle is None:
                return out
            out.append(cycle)
            if not cycle.promoted:
                return out

    def step(self, *, force: bool = False) -> Cycle | None:
        """One cycle if one is due (``force``: if anything waits at all); else None."""
        self._acquire()
        model, version = self._champion()
        consumed = self.consumed_seq(version)
        last = self.store.last_seq
        pending = last - consumed
        if pending <= 0:
            self._waiting_since = None
            return None
        if self._refused_at is not None and last <= self._refused_at:
            return None  # refused on these very events: wait for new ones
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        due = pending >= self.every_events or now - self._waiting_since >= self.every_seconds
        if not (due or force):
            return None
        cycle = self._cycle(model, version, consumed)
        self._waiting_since = None if cycle.last_seq >= last else time.monotonic()
        return cycle

    def status(self) -> dict[str, Any]:
        """Where the alias stands against the store (the service's updater gauges)."""
        version = self.registry.aliases.get(self.alias)
        consumed = self.consumed_seq(version) if version is not None else 0
        last = self.store.last_seq
        return {
            "alias": self.alias,
            "version": version,
            "consumed_seq": consumed,
            "store_last_seq": last,
            "lag_events": max(0, last - consumed),
            "cycles": len(self.cycles),
            "last_cycle": self.cycles[-1].to_dict() if self.cycles else None,
        }

    def close(self) -> None:
        """Release the updater lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ positions
    def consumed_seq(self, version: int | None) -> int:
        """The last store sequence number ``version`` holds (its range, else its parent's)."""
        seen: set[int] = set()
        while version is not None and version not in seen:
            seen.add(version)
            info = self.registry.resolve(version)
            if info.events:
                return int(info.events["last_seq"])
            version = info.parent
        return 0

    def _champion(self) -> tuple[Recommender, int]:
        self.registry.reload()
        version = self.registry.aliases.get(self.alias)
        if version is None:
            raise RegistryError(f"{self.registry.root}: no alias {self.alias!r} to update")
        if self._model is None or self._version != version:
            self._model, self._version = self.registry.load(version), version
        return self._model, version

    def _acquire(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.registry.root / "updater.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RegistryError(
                f"{self.registry.root}: another updater holds updater.lock"
            ) from None
        self._lock_fd = fd

    # ------------------------------------------------------------------ one cycle
    def _cycle(self, champion: Recommender, version: int, consumed: int) -> Cycle:
        t0 = time.perf_counter()
        stages: dict[str, float] = {}
        batch = self.store.read(consumed, self.max_batch)
        records = self.store.items(consumed)
        last_seq = max(batch.last_seq or consumed, _last_record_seq(records, consumed))
        if len(batch) and batch.last_seq is not None and len(batch) == self.max_batch:
            last_seq = batch.last_seq  # a capped read: records beyond it wait for the next cycle
            records = records[records["seq"] <= last_seq]
        events = batch.to_interactions(kind=champion.data_kind_)
        stages["read"] = time.perf_counter() - t0
        policy = self._policy_now(len(events))
        cut, learn, held = self._split(batch, events, last_seq)
        self._read_seq = last_seq  # learned through `cut`, held out the rest: all tried
        t1 = time.perf_counter()
        preq = self._prequential(champion, learn)
        stages["score"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        records = records[records["seq"] <= cut] if len(records) else records
        model, n_text = self._learn(champion, policy, learn, records, cut)
        stages["learn"] = time.perf_counter() - t1
        cycle = Cycle(
            policy, version, consumed + 1, cut, len(learn), len(held), n_text, preq, stages=stages
        )
        t1 = time.perf_counter()
        cycle.version = self._publish(model, version, consumed, cycle)
        stages["publish"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        self._promote(model, cycle, held)
        stages["promote"] = time.perf_counter() - t1
        if policy == "retrain":
            self._since_retrain = 0
        else:
            self._since_retrain += len(learn)
        cycle.seconds = time.perf_counter() - t0
        cycle.finished_at = time.time()
        self.cycles.append(cycle)
        logger.info(
            "cycle %s: v%s from v%s, seq %d..%d (%d events, %d held out) %s in %.3fs",
            policy,
            cycle.version,
            version,
            cycle.first_seq,
            cycle.last_seq,
            cycle.events,
            cycle.holdout,
            "promoted" if cycle.promoted else f"refused ({cycle.reason})",
            cycle.seconds,
        )
        if self.keep_versions and cycle.version and cycle.version % 10 == 0:
            self.registry.gc(keep=self.keep_versions)
        return cycle

    def _policy_now(self, n_events: int) -> str:
        every = self.retrain_every_events
        if every is not None and self._since_retrain + n_events >= every:
            return "retrain"
        return self.policy

    def _split(
        self, batch: EventBatch, events: Interactions, last_seq: int
    ) -> tuple[int, Interactions, Interactions]:
        """The learned prefix (through seq ``cut``) and the held-out newest events."""
        n = len(events)
        if n < 2:
            return last_seq, events, events.subset(np.arange(0))
        k = max(1, round(self.holdout * n))
        cut = int(batch.seq[n - k - 1])
        return cut, events.subset(np.arange(n - k)), events.subset(np.arange(n - k, n))

    def _prequential(self, model: Recommender, events: Interactions) -> dict[str, float | None]:
        if not len(events):
            return {}
        specs = self._specs(model)
        res = score_chunk(model, events, specs)
        out = {k: _finite(v) for k, v in res.metrics.items()}
        return {**out, "n": float(len(events))}

    def _specs(self, model: Recommender) -> list[Any]:
        if self._metrics_text != "auto":
            return parse_metrics(self._metrics_text.split(","))
        return parse_metrics(["rmse", "mae"] if _rates(model) else ["ndcg@10", "recall@10"])

    def _learn(
        self,
        champion: Recommender,
        policy: str,
        learn: Interactions,
        records: pd.DataFrame,
        cut: int,
    ) -> tuple[Recommender, int]:
        if policy == "retrain":
            return self._retrain(champion, cut), 0
        model = copy.deepcopy(champion)
        n_text = self._add_text_items(model, records)
        if len(learn):
            if policy == "finetune":
                model.finetune(learn, train=self.train, strategy=self.strategy)
            else:
                model.partial_fit(learn, train=self.train)
        return model, n_text

    def _add_text_items(self, model: Recommender, records: pd.DataFrame) -> int:
        """Rows from text for items whose record arrived and that the model does not know."""
        if records is None or not len(records):
            return 0
        texts = records.dropna(subset=["text"])
        known = model.item_map_.index_of(texts["item_id"].to_numpy()) >= 0
        new = texts[~known]
        if not len(new):
            return 0
        catalogue = self._catalogue.text()
        try:
            return int(model.add_items(new["item_id"].to_numpy(), item_text=catalogue))
        except ConfigError as exc:  # a model that cannot start rows from text says so once
            logger.warning("%s: items from text skipped: %s", model.name, exc)
            return 0

    def _retrain(self, champion: Recommender, cut: int) -> Recommender:
        log = self.store.read(0, None)
        keep = log.seq <= cut
        sub = EventBatch(*(getattr(log, f)[keep] for f in _BATCH_FIELDS))
        self._retrain_events = len(sub)
        data = sub.to_interactions(kind=champion.data_kind_)
        if self.base_data is not None:
            data = self.base_data.concat(data) if len(data) else self.base_data
        model = create_model(champion.name, **champion.config.to_dict())
        return model.fit(data, train=self.train)

    # ------------------------------------------------------------------ registry
    def _publish(self, model: Recommender, base: int, consumed: int, cycle: Cycle) -> int:
        first = 1 if cycle.policy == "retrain" else consumed + 1
        count = self._retrain_events if cycle.policy == "retrain" else None
        events = events_range(first, cycle.last_seq, cycle.events if count is None else count)
        metrics = {
            "prequential": cycle.prequential,
            "update": {
                "policy": cycle.policy,
                "base_version": base,
                "base_seq": 0 if cycle.policy == "retrain" else consumed,
                "holdout": cycle.holdout,
                "new_items_from_text": cycle.new_items_from_text,
            },
        }
        tmp = Path(tempfile.mkdtemp(prefix=".updater-", dir=self.registry.root))
        try:
            info = self.registry.resolve(base)
            save_model(
                model,
                tmp / "model",
                metrics=metrics,
                parent={"id": info.artifact_id, "path": str(info.path), "checksum": info.checksum},
                strategy={"method": cycle.policy, "events": cycle.events},
                durable=True,
            )
            written = (model.artifact_ or {}).get("checksum")
            return self.registry.add(
                tmp / "model", parent=base, events=events, metrics=metrics, move=True,
                checksum=written,
            )  # fmt: skip
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _count_events(self, first: int, last: int) -> int:
        return int((self.store.read(first - 1, None).seq <= last).sum())

    def _promote(self, model: Recommender, cycle: Cycle, held: Interactions) -> None:
        assert cycle.version is not None
        rules: list[GuardRule] | None = None
        data = held if len(held) else None
        off = self._guard_text == "none"
        if data is not None and not off:
            rules = parse_guard(self._guard_text or self._default_guard(model))
        try:
            result = self.registry.promote(
                cycle.version, alias=self.alias, guard=rules, data=data, force=off
            )
        except RectuneError as exc:
            cycle.reason = str(exc)
            self._refused_at = self._read_seq
            return
        cycle.promoted = result.accepted
        cycle.reason = result.reason
        # Wait for events beyond the refused candidate's (not the store's last: events stored
        # while this cycle ran were never tried, and waiting for more would stall on them).
        self._refused_at = None if result.accepted else self._read_seq
        if result.accepted:
            self._model, self._version = model, cycle.version

    @staticmethod
    def _default_guard(model: Recommender) -> str:
        return RATING_GUARD if _rates(model) else RANKING_GUARD


_BATCH_FIELDS = ("seq", "event_id", "user_id", "item_id", "value", "timestamp")


def _last_record_seq(records: pd.DataFrame, default: int) -> int:
    return int(records["seq"].max()) if records is not None and len(records) else default


def _rates(model: Recommender) -> bool:
    """Whether the model's scores are rating estimates (RMSE means something)."""
    return model.data_kind_ == "rating" and predicts_ratings(model) is not False


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


__all__ = ["POLICIES", "Cycle", "Updater"]

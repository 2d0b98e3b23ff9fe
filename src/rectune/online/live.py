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

``publish_every`` N > 1 (or ``publish_seconds`` T): cycles between publications fold their
events into the updater's in-memory live model (`Updater.model`, checked in memory: finite
parameters, the guard against the live model on the cycle's holdout) and write nothing; every
N-th cycle (or once the oldest unpublished fold is T seconds old) writes the live model as a
version whose consumed range covers all those cycles and promotes it through the guard. The
event log stays the durable record: after ``kill -9`` the unpublished folds are gone and a
restarted updater re-reads and re-applies their events from the champion's consumed range.
An event then reaches a promoted version up to N cycles (or T seconds) after its cycle; a
process that serves `Updater.model` itself sees it after one cycle.
"""

from __future__ import annotations

import copy
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import pandas as pd

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, RectuneError, RegistryError
from rectune.models.base import Recommender
from rectune.online._catalogue import ItemTextCatalogue
from rectune.online._cycle import (
    RANKING_GUARD,
    RATING_GUARD,
    Cycle,
    add_text_items,
    check_in_memory,
    default_guard,
    last_record_seq,
    prequential,
    retrain,
    split,
    write_version,
)
from rectune.online.guard import GuardRule, parse_guard
from rectune.online.registry import Registry
from rectune.online.store import EventStore
from rectune.training.config import TrainConfig

logger = logging.getLogger(__name__)
Policy = Literal["partial", "finetune", "retrain"]
POLICIES: tuple[str, ...] = ("partial", "finetune", "retrain")


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
    publish_every, publish_seconds
        Write and promote a version every N-th cycle, or once the oldest unpublished fold is
        T seconds old (whichever first; default every cycle); the cycles between fold their
        events into the in-memory live model `model` only (see the module docstring).
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
        publish_every: int = 1,
        publish_seconds: float | None = None,
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
        if publish_every < 1 or (publish_seconds is not None and publish_seconds <= 0):
            raise ConfigError(
                f"publish_every must be >= 1 and publish_seconds > 0, got {publish_every}, "
                f"{publish_seconds}"
            )
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
        self.publish_every, self.publish_seconds = publish_every, publish_seconds
        self._live_seq = 0
        """The last store sequence the live model `_model` learned."""
        self._folds: list[Cycle] = []
        """Cycles folded into the live model since the last publication."""
        self._fold_range: tuple[int, int] = (0, 0)
        """(first_seq, count) of the events the unpublished folds learned."""
        self._folds_since = 0.0
        self._last_held: Interactions | None = None

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
        if self._folds:  # stopping: publish what was folded (a crash would re-apply it)
            try:
                self.flush()
            except RectuneError as exc:
                logger.warning("could not publish the unpublished folds on stop: %s", exc)

    def run_once(self) -> list[Cycle]:
        """Catch up: run cycles (due or not) until the champion holds every stored event, or
        until the guard refuses a candidate (retrying on the same events would be refused
        again; `status` then shows the lag)."""
        out: list[Cycle] = []
        while True:
            cycle = self.step(force=True)
            if cycle is not None:
                out.append(cycle)
            if cycle is None or not cycle.live:  # caught up, or refused: publish the folds
                flushed = self.flush()
                return out + ([flushed] if flushed is not None else [])

    def step(self, *, force: bool = False) -> Cycle | None:
        """One cycle if one is due (``force``: if anything waits at all); else None."""
        self._acquire()
        model, version = self._champion()
        consumed = self._live_seq
        last = self.store.last_seq
        pending = last - consumed
        if pending <= 0:
            self._waiting_since = None
            if self._folds and self._publish_due():  # idle stream: publish on time
                return self.flush()
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
            "live_seq": self._live_seq if self._model is not None else consumed,
            "unpublished_cycles": len(self._folds),
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
            if self._folds:
                logger.warning(
                    "alias %s moved to v%s: %d unpublished folds dropped (re-applied from it)",
                    self.alias, version, len(self._folds),
                )  # fmt: skip
            self._model, self._version = self.registry.load(version), version
            self._live_seq, self._folds = self.consumed_seq(version), []
        return self._model, version

    @property
    def model(self) -> Recommender | None:
        """The live model: the champion plus the unpublished folds (None before a step)."""
        return self._model

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
        last_seq = max(batch.last_seq or consumed, last_record_seq(records, consumed))
        if len(batch) and batch.last_seq is not None and len(batch) == self.max_batch:
            last_seq = batch.last_seq  # a capped read: records beyond it wait for the next cycle
            records = records[records["seq"] <= last_seq]
        events = batch.to_interactions(kind=champion.data_kind_)
        stages["read"] = time.perf_counter() - t0
        policy = self._policy_now(len(events))
        cut, learn, held = split(batch, events, last_seq, self.holdout)
        self._read_seq = last_seq  # learned through `cut`, held out the rest: all tried
        t1 = time.perf_counter()
        preq = prequential(champion, learn, self._metrics_text)
        stages["score"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        records = records[records["seq"] <= cut] if len(records) else records
        model, n_text = self._learn(champion, policy, learn, records, cut)
        stages["learn"] = time.perf_counter() - t1
        cycle = Cycle(
            policy, version, consumed + 1, cut, len(learn), len(held), n_text, preq, stages=stages
        )
        if policy == "retrain":
            fold_range = (1, self._retrain_events)
        elif self._folds:
            fold_range = (self._fold_range[0], self._fold_range[1] + len(learn))
        else:
            fold_range = (consumed + 1, len(learn))
        due = len(self._folds) + 1 >= self.publish_every or self._publish_due()
        if policy == "retrain" or due:  # a retrain is always published
            self._publish_and_promote(model, cycle, held, fold_range)
        else:
            self._fold(model, cycle, held, fold_range)
        self._since_retrain = 0 if policy == "retrain" else self._since_retrain + len(learn)
        cycle.seconds = time.perf_counter() - t0
        cycle.finished_at = time.time()
        self.cycles.append(cycle)
        c = cycle
        logger.info(
            "cycle %s: v%s from v%s, seq %d..%d (%d events, %d held out) %s in %.3fs",
            *(policy, c.version, version, c.first_seq, c.last_seq, c.events, c.holdout),
            *(_verdict(c), c.seconds),
        )
        if self.keep_versions and cycle.version and cycle.version % 10 == 0:
            self.registry.gc(keep=self.keep_versions)
        return cycle

    def _publish_due(self) -> bool:
        t = self.publish_seconds
        return bool(self._folds) and t is not None and time.monotonic() - self._folds_since >= t

    def _fold(
        self, model: Recommender, cycle: Cycle, held: Interactions, fold_range: tuple[int, int]
    ) -> None:
        """Make ``model`` the live model in memory if it passes the checks; nothing written."""
        t1 = time.perf_counter()
        rules = None if self._guard_text == "none" else self._rules(model)
        assert self._model is not None
        cycle.reason = check_in_memory(model, self._model, rules, held)
        cycle.stages["guard"] = time.perf_counter() - t1
        if cycle.reason is not None:
            self._refused_at = self._read_seq
            return
        self._refused_at = None
        if not self._folds:
            self._folds_since = time.monotonic()
        self._folds.append(cycle)
        self._model, self._live_seq, self._fold_range = model, cycle.last_seq, fold_range
        self._last_held = held
        cycle.live = True

    def _publish_and_promote(
        self, model: Recommender, cycle: Cycle, held: Interactions, fold_range: tuple[int, int]
    ) -> None:
        assert self._version is not None
        base = self._version
        t1 = time.perf_counter()
        folds = len(self._folds) + (1 if cycle.events else 0)
        cycle.version = write_version(self.registry, model, base, cycle, fold_range, folds)
        cycle.published = True
        cycle.stages["publish"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        self._promote(model, cycle, held)
        cycle.stages["promote"] = time.perf_counter() - t1
        cycle.live = cycle.promoted
        if not cycle.promoted and self._folds:  # back to the champion: its folds are re-read
            self._model, self._folds = self.registry.load(base), []
            self._live_seq = self.consumed_seq(base)
        elif cycle.promoted:
            self._live_seq, self._folds = cycle.last_seq, []

    def flush(self) -> Cycle | None:
        """Publish the live model now if it holds unpublished folds (else None), promoted
        through the guard on the last fold's held-out events; `run_once` and a stopping
        `run` call it."""
        if not self._folds:
            return None
        last = self._folds[-1]
        assert self._model is not None and self._version is not None
        held = self._last_held if self._last_held is not None else Interactions.empty()
        first = self._fold_range[0]
        cycle = Cycle(last.policy, self._version, first, last.last_seq, 0, len(held), 0, {})
        t0 = time.perf_counter()
        self._publish_and_promote(self._model, cycle, held, self._fold_range)
        cycle.seconds = time.perf_counter() - t0
        cycle.finished_at = time.time()
        self.cycles.append(cycle)
        return cycle

    def _policy_now(self, n_events: int) -> str:
        every = self.retrain_every_events
        if every is not None and self._since_retrain + n_events >= every:
            return "retrain"
        return self.policy

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
        n_text = add_text_items(model, records, self._catalogue)
        if len(learn):
            if policy == "finetune":
                model.finetune(learn, train=self.train, strategy=self.strategy)
            else:
                model.partial_fit(learn, train=self.train)
        return model, n_text

    def _retrain(self, champion: Recommender, cut: int) -> Recommender:
        model, self._retrain_events = retrain(self.store, champion, cut, self.base_data, self.train)
        return model

    # ------------------------------------------------------------------ registry
    def _promote(self, model: Recommender, cycle: Cycle, held: Interactions) -> None:
        assert cycle.version is not None
        rules: list[GuardRule] | None = None
        data = held if len(held) else None
        off = self._guard_text == "none"
        if data is not None and not off:
            rules = self._rules(model)
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

    def _rules(self, model: Recommender) -> list[GuardRule]:
        return parse_guard(self._guard_text or default_guard(model))


def _verdict(cycle: Cycle) -> str:
    if cycle.promoted or cycle.live:
        return "promoted" if cycle.promoted else "folded in memory"
    return f"refused ({cycle.reason})"


__all__ = ["POLICIES", "RANKING_GUARD", "RATING_GUARD", "Cycle", "Updater"]

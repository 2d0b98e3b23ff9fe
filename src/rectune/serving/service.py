"""`Service`: everything one service process runs, started and stopped by the app's lifespan.

It owns the served model (`ModelHolder`, following the alias), the store thread
(`StoreThread`), the registry the write routes change (one `Registry` object, used under a
lock: its in-memory state is re-read by every change), the optional updater (a child
process), the metrics and the dashboard's live series (`Sampler`) and item titles
(`TitleBook`). The routes reach them through this one object.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import HTTPException

from rectune.data.interactions import Interactions
from rectune.online.registry import Registry
from rectune.online.store import EventStore
from rectune.serving.metrics import ServiceMetrics
from rectune.serving.settings import ServeSettings, read_token
from rectune.serving.state import Live, ModelHolder, consumed_seq
from rectune.serving.store_thread import StoreThread
from rectune.serving.timeseries import Probe, Sampler
from rectune.serving.titles import TitleBook, load_titles
from rectune.serving.updating import UpdaterProcess

logger = logging.getLogger(__name__)


def last_seq(store: EventStore) -> int:
    """The store's last sequence number (`EventStore.last_seq`, cheap)."""
    return store.last_seq


class Service:
    """The state of one service process (see the module docstring)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.token = read_token(settings.token_file)
        self.metrics = ServiceMetrics()
        self.holder = ModelHolder(
            settings.registry,
            settings.alias,
            poll_seconds=settings.poll_seconds,
            on_swap=self._swapped,
        )
        self.store = StoreThread(settings.store)
        self.registry = Registry(settings.registry)
        self.registry_lock = threading.Lock()
        self.updater: UpdaterProcess | None = None
        self.draining = False
        self.started = False
        self.titles = TitleBook()
        probe = Probe(lambda: self.store.call(last_seq), self._lag, self._version)
        self.sampler = Sampler(probe, self.metrics, settings.sample_seconds)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Load the dashboard's titles (``data``), open the store, start loading the model
        (readyz is 503 until it is in), the updater and the dashboard's sampler."""
        if self.settings.data is not None:
            self.titles = TitleBook(load_titles(self.settings.data))
        self.store.start()
        self.holder.start()
        if self.settings.update:
            self.updater = UpdaterProcess(self.settings)
            self.updater.start()
        self.sampler.start()
        self.started = True

    def stop(self) -> None:
        """Stop the updater (after its cycle), the model poller, then the store."""
        self.draining = True
        self.sampler.stop()
        if self.updater is not None:
            self.updater.stop()
        self.holder.stop()
        self.store.stop()
        self.started = False

    def _swapped(self, live: Live) -> None:
        self.metrics.version.labels(live.alias).set(live.version)
        self.metrics.swaps.inc()

    # ------------------------------------------------------------------ for the routes
    def live(self) -> Live:
        """The served model, or 503 while none is loaded."""
        live = self.holder.current
        if live is None:
            why = self.holder.load_error or "the model is loading"
            raise HTTPException(503, f"no model loaded yet: {why}", headers={"Retry-After": "1"})
        return live

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Whether to take traffic: a model is loaded and the process is not draining."""
        live = self.holder.current
        if self.draining:
            return False, {"status": "draining"}
        if live is None:
            return False, {"status": "loading", "detail": self.holder.load_error}
        return True, {"status": "ready", "alias": live.alias, "model_version": live.version}

    def held_out(self, candidate: int, current: int | None) -> Interactions | None:
        """The most recent ``guard_events`` stored events that neither version consumed
        (None: there are none). Call with ``registry_lock`` held."""
        learned = max(consumed_seq(self.registry, candidate), consumed_seq(self.registry, current))
        k = self.settings.guard_events

        def read(store: EventStore) -> Any:
            after = max(learned, last_seq(store) - k)
            return store.read(after, k)

        batch = self.store.call(read)
        return batch.to_interactions() if len(batch) else None

    def _lag(self, last: int) -> int | None:
        """Stored events the served alias has not consumed: the updater's own count when this
        process updates, else from the served version's consumed range."""
        status = self.updater_status()
        if status is not None and status.get("lag_events") is not None:
            return int(status["lag_events"])
        live = self.holder.current
        return None if live is None else max(0, last - live.consumed_seq)

    def _version(self) -> int | None:
        live = self.holder.current
        return None if live is None else live.version

    def updater_status(self) -> dict[str, Any] | None:
        return None if self.updater is None else self.updater.status()

    async def refresh_gauges(self) -> None:
        """Set the store and lag gauges (on each scrape of /metrics)."""
        last = await self.store.acall(last_seq)
        self.metrics.last_seq.set(last)
        lag = self._lag(last)
        if lag is not None:
            self.metrics.lag.set(lag)

"""`StoreThread`: the one thread that owns the service's `EventStore` connection.

An ``sqlite3`` connection belongs to the thread that opened it, and `EventStore` holds one
connection without a lock, so the service never shares it between request threads: every
store call is queued to this single thread, in arrival order. Writes are serialised by the
store's own write lock anyway (SQLite has one writer), so the queue costs no throughput, and
an async route awaits the call without holding a worker thread of the request pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from rectune.errors import ConfigError
from rectune.online.store import EventStore

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StoreThread:
    """Runs ``fn(store, *args)`` on the thread that owns the store at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: ThreadPoolExecutor | None = None
        self._store: EventStore | None = None

    def start(self) -> None:
        """Open the store on its thread; a bad URL or store raises here (`ConfigError`...)."""
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rectune-store")
        try:
            self._pool.submit(self._open).result()
        except BaseException:
            self._pool.shutdown(wait=True)
            self._pool = None
            raise

    def _open(self) -> None:
        self._store = EventStore(self.url)

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._store is None:
            raise ConfigError(f"event store {self.url} is not open")
        return fn(self._store, *args)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(store, *args)`` on the store thread and wait for it (blocking)."""
        if self._pool is None:
            raise ConfigError(f"event store {self.url} is not open (the service is not started)")
        return self._pool.submit(self._run, fn, *args).result()

    async def acall(self, fn: Callable[..., T], *args: Any) -> T:
        """`call` for async routes: awaits the store thread without blocking the event loop."""
        if self._pool is None:
            raise ConfigError(f"event store {self.url} is not open (the service is not started)")
        return await asyncio.wrap_future(self._pool.submit(self._run, fn, *args))

    def stop(self) -> None:
        """Finish the queued calls, then close the store on its own thread."""
        if self._pool is None:
            return
        try:
            self._pool.submit(self._close).result()
        except Exception:  # closing is best effort; the process is going away
            logger.warning("closing the event store %s failed", self.url, exc_info=True)
        self._pool.shutdown(wait=True)
        self._pool = None

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

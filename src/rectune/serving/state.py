"""`ModelHolder`: the model a process serves, swapped atomically when its alias moves.

The holder serves ``(model, version)`` as one immutable `Live` object behind one reference.
A request reads that reference once and uses the model and version it got for the whole
request, so every answer names the version that computed it. A new version is loaded,
verified (checksums, shapes, finite parameters) and warmed (one recommendation, one
similar-items list) completely before the reference moves: no request ever sees a half-loaded
model, and none waits for a load or is dropped by one.

A background thread watches the registry's ``state.json`` (one ``stat`` per poll: inode,
mtime and size; the file is replaced by a rename on every change) and re-reads the registry
only when it changed, so aliases moved by another process (the updater of another worker,
``rectune registry promote``) are followed within ``poll_seconds``. A promotion made through
this process calls `ModelHolder.sync` before it answers, so every response after it names the
new version. A version that fails to load is logged and kept out: the old one goes on serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rectune.errors import ConfigError, RectuneError, RegistryError
from rectune.models.base import Recommender
from rectune.online.registry import Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Live:
    """The served model and what it is: never mutated, replaced as a whole."""

    model: Recommender
    version: int
    alias: str
    consumed_seq: int
    """The last event sequence number the version consumed (0: none recorded)."""
    loaded_at: float
    similarities: bool = True
    """Whether the model has item similarities (`similar_items`)."""
    answer_seconds: float = 0.0
    """How long one warm one-user recommendation took (the routes compute answers this
    cheap on the event loop, dearer ones in a worker thread)."""


def consumed_seq(registry: Registry, version: int | None) -> int:
    """The last store sequence number ``version`` learned from: its consumed range, else its
    parent's (a version made without events inherits its parent's position); 0 if none."""
    seen: set[int] = set()
    while version is not None and version not in seen:
        seen.add(version)
        info = registry.resolve(version)
        if info.events:
            return int(info.events["last_seq"])
        version = info.parent
    return 0


def warm(model: Recommender) -> tuple[bool, float]:
    """Run recommendations and one similar-items list, so lazy caches are built before the
    model takes traffic (and a model that cannot answer is found before the swap).

    Returns whether the model has item similarities, and the seconds of the best of three
    warm one-user recommendations of ten items (what a request will cost).
    """
    users = model.user_map_.ids[:1]
    cost = 0.0
    if len(users):
        model.recommend(users, n=1)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            model.recommend(users, n=10)
            times.append(time.perf_counter() - t0)
        cost = min(times)
    items = model.item_map_.ids[:1]
    if len(items):
        try:
            model.similar_items(items, n=1)
        except ConfigError:  # a model without item similarities: /v1/similar answers 501
            return False, cost
    return True, cost


class ModelHolder:
    """Loads ``alias`` of the registry at ``root`` and follows it (see the module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        alias: str = "champion",
        *,
        poll_seconds: float = 0.5,
        on_swap: Callable[[Live], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.alias = alias
        self.poll_seconds = poll_seconds
        self.on_swap = on_swap
        self.current: Live | None = None
        self.load_error: str | None = None
        """Why the last load failed (None after a good one)."""
        self.swaps = 0
        self._registry: Registry | None = None
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the thread that loads the alias's target, then follows the alias."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rectune-model", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_loaded(self, timeout: float) -> Live | None:
        """Wait up to ``timeout`` seconds for a model (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while self.current is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.current

    def _loop(self) -> None:
        self.sync()
        while not self._stop.wait(self.poll_seconds):
            if self._signature() != self._seen:
                self.sync()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.root / "state.json")
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # ------------------------------------------------------------------ swapping
    def sync(self) -> Live | None:
        """Serve the alias's current target: load, verify and warm it if it is not the one
        served, then swap. Returns what is served afterwards (None: nothing loaded yet)."""
        with self._lock:
            seen = self._signature()
            try:
                live = self._load_target()
            except (RectuneError, OSError) as exc:
                self.load_error = f"{type(exc).__name__}: {exc}"
                logger.error("cannot serve %s of %s: %s", self.alias, self.root, exc)
                self._seen = seen  # retried when the registry changes again
                return self.current
            self._seen = seen
            self.load_error = None
            if live is not self.current:
                self.current = live  # the swap: one reference assignment
                self.swaps += 1
                logger.info("serving %s = version %d", self.alias, live.version)
                if self.on_swap is not None:
                    self.on_swap(live)
            return live

    def _load_target(self) -> Live:
        if self._registry is None:
            self._registry = Registry(self.root)
        else:
            self._registry.reload()
        target = self._registry.aliases.get(self.alias)
        if target is None:
            raise RegistryError(f"{self.root}: no alias {self.alias!r}")
        current = self.current
        if current is not None and current.version == target:
            return current
        model = self._registry.load(target)
        similarities, cost = warm(model)
        consumed = consumed_seq(self._registry, target)
        return Live(model, target, self.alias, consumed, time.time(), similarities, cost)

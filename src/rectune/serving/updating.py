"""`UpdaterThread`: the live updater (`rectune.online.Updater`) beside the service.

The thread opens its own `Registry` and `EventStore` (an sqlite3 connection belongs to its
thread) and runs the updater's cycles with `Updater.step` until the service stops. The
updater takes an exclusive lock on the registry (``REG/updater.lock``), so with
``--workers N`` one worker updates and the others only serve and follow the promotions; a
follower retries the lock every `FOLLOW_RETRY_SECONDS`, so if the updating worker dies
another one takes over. `status` answers from a copy the thread refreshes itself (never
touching the thread's store from another thread).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from rectune.errors import RegistryError
from rectune.online.live import Updater
from rectune.online.registry import Registry
from rectune.online.store import EventStore
from rectune.serving.settings import ServeSettings

logger = logging.getLogger(__name__)
FOLLOW_RETRY_SECONDS = 2.0
STATUS_SECONDS = 1.0


class UpdaterThread:
    """Runs the updater for ``settings`` in a daemon thread (see the module docstring)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.state = "starting"
        """``starting``, ``updating`` (holds the lock), ``following`` (another process
        updates), ``failed`` or ``stopped``."""
        self.error: str | None = None
        self._status: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="rectune-updater", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop after the cycle it is in, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("the updater did not stop within %.0f s", timeout)
            self._thread = None

    def status(self) -> dict[str, Any]:
        """``{"state", "error", ...}`` plus the updater's last `Updater.status` when it runs."""
        return {"state": self.state, "error": self.error, **(self._status or {})}

    def _main(self) -> None:
        s = self.settings
        store = None
        updater = None
        try:
            store = EventStore(s.store)
            updater = Updater(
                Registry(s.registry),
                store,
                every_events=s.every_events,
                every_seconds=s.every_seconds,
                alias=s.alias,
            )
            self._loop(updater)
            self.state = "stopped"
        except Exception as exc:  # the service goes on serving; /v1/models shows why
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            logger.exception("the updater stopped")
        finally:
            if updater is not None:
                updater.close()
            if store is not None:
                store.close()

    def _failed_cycle(self, exc: Exception, backoff: float) -> None:
        """Record why a cycle failed (shown by /v1/models) and wait before the next try."""
        self.state, self.error = "retrying", f"{type(exc).__name__}: {exc}"
        logger.exception("an updater cycle failed; retrying in %.0fs", backoff)
        self._stop.wait(backoff)

    def _loop(self, updater: Updater) -> None:
        refreshed, backoff = 0.0, 1.0
        while not self._stop.is_set():
            try:
                cycle = updater.step()
            except RegistryError as exc:
                if "another updater" not in str(exc):
                    self._failed_cycle(exc, backoff)
                    backoff = min(backoff * 2, 60.0)
                    continue
                if self.state != "following":
                    logger.info(
                        "another process updates %s; this one serves", self.settings.registry
                    )
                self.state = "following"
                self._stop.wait(FOLLOW_RETRY_SECONDS)
                continue
            except Exception as exc:  # a failed cycle wrote nothing visible: retry later
                self._failed_cycle(exc, backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            self.state, self.error, backoff = "updating", None, 1.0
            now = time.monotonic()
            if cycle is not None or now - refreshed >= STATUS_SECONDS:
                self._status = updater.status()
                refreshed = now
            if cycle is None:
                self._stop.wait(min(0.05, self.settings.every_seconds / 4))

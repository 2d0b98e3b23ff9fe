"""`UpdaterProcess`: the live updater (`rectune.online.Updater`) beside the service, in a child
process at a lower CPU priority.

Why a process and not a thread: a cycle (scoring, ``partial_fit``, writing and verifying a
version, the guard) is seconds of mostly Python work. In the serving process it would hold the
GIL against the event loop, and every request would wait for it in 5 ms slices (p99 of
100-200 ms at 1,000 requests/s in ``benchmarks/bench_serve.py``). As a child it shares no GIL,
and at ``nice`` +`ServeSettings.updater_nice` (19 by default, set before the child's
interpreter starts) the kernel runs the serving process first when both want a core: under
load the updater slows down (its lag grows, shown in ``/metrics``), requests do not. (The
child stays in the service's session, so with Linux autogroups the two share that session's
CPU between them, and other sessions are not affected.)

The child (``python -m rectune.serving.updating``, settings in ``RECTUNE_SERVE``) opens its
own `Registry` and `EventStore` and runs `Updater.step` until told to stop. It takes the
registry's exclusive updater lock (``REG/updater.lock``), so with ``--workers N`` one child
updates and the others follow, retrying the lock every `FOLLOW_RETRY_SECONDS` (if the
updating one dies another takes over). It prints its status as one JSON line after each cycle
and at least every `STATUS_SECONDS`; the parent keeps the latest for `status`. It stops after
its cycle on SIGTERM or when its stdin closes, which happens when the serving process exits
in any way, ``kill -9`` included: no updater outlives its service.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from typing import Any

from rectune.errors import RegistryError
from rectune.serving.settings import ENV_VAR, ServeSettings

logger = logging.getLogger(__name__)
FOLLOW_RETRY_SECONDS = 2.0
STATUS_SECONDS = 1.0


class UpdaterProcess:
    """Runs the updater for ``settings`` in a child process (see the module docstring)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self._status: dict[str, Any] = {"state": "starting", "error": None}
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    @property
    def state(self) -> str:
        """``starting``, ``updating`` (holds the lock), ``following`` (another process
        updates), ``failed`` or ``stopped``."""
        return str(self._status["state"])

    @property
    def pid(self) -> int | None:
        """The child's process id (None before `start` and after `stop`)."""
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        env = {**os.environ, ENV_VAR: self.settings.to_env()}
        # `nice` before the interpreter starts: even the child's imports yield to requests
        nice = ["nice", "-n", str(self.settings.updater_nice)] if self.settings.updater_nice else []
        cmd = [*nice, sys.executable, "-m", "rectune.serving.updating"]
        self._proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._reader = threading.Thread(
            target=self._read, args=(self._proc,), name="rectune-updater", daemon=True
        )
        self._reader.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                self._status = json.loads(line)
            except ValueError:
                logger.warning("updater: unreadable status line %r", line[:200])
        code = proc.wait()
        if self._status["state"] not in ("stopped", "failed"):
            why = f"the updater process exited with status {code}"
            self._status = {**self._status, "state": "failed", "error": why}

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to stop after the cycle it is in, and wait for it."""
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("the updater did not stop within %.0f s; killing it", timeout)
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(5)
        self._proc = None

    def status(self) -> dict[str, Any]:
        """``{"state", "error", ...}`` plus the updater's last `Updater.status` when it runs."""
        return dict(self._status)


# ------------------------------------------------------------------ the child process
def _emit(status: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(status, default=str) + "\n")
    sys.stdout.flush()


class SessionRun:
    """The updater session's MLflow run (``settings.tracking``), opened at the first cycle this
    process runs (a worker that only follows opens none) and ended with the process: FINISHED
    after a stop, FAILED when the updater failed. A cycle that cannot be logged stops the
    updater like any other failure (``/v1/models`` says why): a run is never left silently
    incomplete."""

    def __init__(self, settings: ServeSettings, updater: Any, stack: ExitStack) -> None:
        self.settings, self.updater, self.stack = settings, updater, stack
        self.session: Any = None

    def cycle(self, cycle: Any) -> None:
        if not self.settings.tracking:
            return
        if self.session is None:
            from rectune.tracking import TrackingSettings, require_mlflow, start_run
            from rectune.tracking.record import UpdaterRun

            require_mlflow()
            logging.getLogger("mlflow").setLevel(logging.WARNING)  # its import set INFO
            where = TrackingSettings(self.settings.mlflow_uri, self.settings.mlflow_experiment)
            name = f"serve-updater-{self.settings.alias}"
            run = self.stack.enter_context(start_run(where, command="serve", run_name=name))
            self.session = UpdaterRun(run, self.updater)
        self.session.cycle(cycle)

    def finish(self) -> None:
        if self.session is not None:
            self.session.finish()


def _loop(
    updater: Any, settings: ServeSettings, stop: threading.Event, tracker: SessionRun | None = None
) -> None:
    """Run the updater, reporting its state; a failed cycle is retried with backoff, and
    while another process holds the updater lock this one only serves (``following``)."""
    state, refreshed = "starting", 0.0

    def on_cycle(cycle: Any) -> None:
        nonlocal state, refreshed
        if cycle is not None and tracker is not None:
            tracker.cycle(cycle)
        now = time.monotonic()
        if state != "updating" or cycle is not None or now - refreshed >= STATUS_SECONDS:
            state = "updating"
            _emit({"state": state, "error": None, **updater.status()})
            refreshed = now

    def on_error(exc: Exception, backoff: float) -> float:
        nonlocal state
        if isinstance(exc, RegistryError) and "another updater" in str(exc):
            if state != "following":
                logger.info("another process updates %s; this one serves", settings.registry)
                state = "following"
                _emit({"state": state, "error": None})
            return FOLLOW_RETRY_SECONDS
        # a failed cycle wrote nothing visible: report why (shown by /v1/models), retry later
        logger.exception("an updater cycle failed; retrying in %.0fs", backoff)
        state = "retrying"
        _emit({"state": state, "error": f"{type(exc).__name__}: {exc}"})
        return backoff

    updater.run(stop, on_cycle=on_cycle, on_error=on_error)


def child_main() -> None:
    """The child: run the updater of ``RECTUNE_SERVE``'s settings until stopped."""
    from rectune.online.live import Updater
    from rectune.online.registry import Registry
    from rectune.online.store import EventStore

    logging.basicConfig(level=logging.WARNING, format="updater: %(levelname)s %(message)s")
    settings = ServeSettings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_parent() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the service closed the pipe or died
        stop.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    store = updater = None
    try:
        store = EventStore(settings.store)
        updater = Updater(
            Registry(settings.registry),
            store,
            every_events=settings.every_events,
            every_seconds=settings.every_seconds,
            alias=settings.alias,
        )
        with ExitStack() as stack:
            tracker = SessionRun(settings, updater, stack)
            _loop(updater, settings, stop, tracker)
            tracker.finish()
        _emit({"state": "stopped", "error": None})
    except Exception as exc:  # the service goes on serving; /v1/models shows why
        logger.exception("the updater stopped")
        _emit({"state": "failed", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if updater is not None:
            updater.close()
        if store is not None:
            store.close()


if __name__ == "__main__":
    child_main()

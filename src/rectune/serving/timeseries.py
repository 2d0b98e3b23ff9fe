"""`Sampler`: the small in-memory time series behind the dashboard's live charts.

Every ``interval`` seconds a daemon thread takes one `Sample`: the store's last sequence
number (so the ingest rate counts what every worker stored), this process's events-ingested
counter, the updater lag (`Updater.status` ``lag_events`` when this process updates, else
the store's last sequence number minus the served version's consumed one), the served
version, and the p50 / p99 latency of each route over the requests since the previous sample
(`RecentLatency`). The last `KEEP` samples are kept (10 minutes at one a second); the raw
latencies of the last `WINDOW_SAMPLES` intervals are kept too, for the per-route table.
Nothing here touches disk: a restart starts the charts over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rectune.serving.metrics import ServiceMetrics

logger = logging.getLogger(__name__)
KEEP = 600
WINDOW_SAMPLES = 60


@dataclass(frozen=True)
class Probe:
    """What the sampler reads from the service (callables, so tests can drive it)."""

    last_seq: Callable[[], int]
    """The store's last sequence number."""
    lag: Callable[[int], int | None]
    """The updater lag in events, given the store's last sequence number (None: unknown)."""
    version: Callable[[], int | None]
    """The served version (None: nothing loaded yet)."""


@dataclass(frozen=True)
class Sample:
    """One point of every live chart."""

    t: float
    """Unix time of the sample."""
    last_seq: int
    events_total: float
    """This process's events-ingested counter."""
    rate: float | None
    """Store rows (events and records) per second since the previous sample."""
    lag: int | None
    version: int | None
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    """``route -> {"p50", "p99", "n"}`` (milliseconds) over the interval."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentiles(values: np.ndarray) -> dict[str, float]:
    """``{"p50", "p99", "n"}`` of latencies in seconds, as milliseconds."""
    p50, p99 = np.percentile(values, [50, 99]) * 1000.0
    return {"p50": float(p50), "p99": float(p99), "n": float(len(values))}


class Sampler:
    """Samples ``probe`` and ``metrics`` every ``interval`` seconds (see the module docstring)."""

    def __init__(self, probe: Probe, metrics: ServiceMetrics, interval: float = 1.0) -> None:
        self.probe = probe
        self.metrics = metrics
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=KEEP)
        self._window: deque[dict[str, tuple[np.ndarray, int]]] = deque(maxlen=WINDOW_SAMPLES)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[float, int] | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rectune-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:  # a failed probe (store closing) skips one point, never the thread
                logger.debug("dashboard sample failed", exc_info=True)
            self._stop.wait(self.interval)

    def sample(self, now: float | None = None) -> Sample:
        """Take one sample now (the thread calls this; tests may too)."""
        t = time.time() if now is None else now
        last = int(self.probe.last_seq())
        rate = None
        if self._last is not None and t > self._last[0]:
            rate = max(0.0, (last - self._last[1]) / (t - self._last[0]))
        self._last = (t, last)
        drained = self.metrics.recent.drain()
        latency = {r: percentiles(v) for r, (v, _) in drained.items() if len(v)}
        sample = Sample(
            t=t,
            last_seq=last,
            events_total=self.metrics.events_ingested(),
            rate=rate,
            lag=self.probe.lag(last),
            version=self.probe.version(),
            latency=latency,
        )
        with self._lock:
            self.samples.append(sample)
            self._window.append(drained)
        return sample

    def series(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """The samples of the last ``seconds`` (all kept ones without it), oldest first."""
        with self._lock:
            samples = list(self.samples)
        if seconds is not None and samples:
            since = samples[-1].t - seconds
            samples = [s for s in samples if s.t >= since]
        return [s.to_dict() for s in samples]

    def latency_table(self) -> dict[str, dict[str, float]]:
        """``route -> {"p50", "p99", "n", "rps"}`` over the last `WINDOW_SAMPLES` intervals
        (``n`` counts every request; the percentiles use the latencies kept)."""
        with self._lock:
            window = list(self._window)
        seconds = max(self.interval * len(window), 1e-9)
        kept: dict[str, list[np.ndarray]] = {}
        counted: dict[str, int] = {}
        for part in window:
            for route, (values, n) in part.items():
                kept.setdefault(route, []).append(values)
                counted[route] = counted.get(route, 0) + n
        out = {}
        for route, parts in sorted(kept.items()):
            values = np.concatenate(parts)
            if not len(values):
                continue
            row = percentiles(values)
            row["n"] = float(counted[route])
            row["rps"] = counted[route] / seconds
            out[route] = row
        return out

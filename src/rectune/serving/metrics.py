"""Prometheus metrics of the service, and the ASGI middleware that times every request.

Each app has its own `CollectorRegistry` (two apps in one process, as in the tests, never
share counters). With ``--workers N`` the workers run in prometheus_client's multiprocess
mode (`rectune.serving.server` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory
before they start): each keeps its values in files there and a scrape of ``/metrics``,
whichever worker takes it, answers for the whole service: counters and histograms summed
over the workers, ``rectune_in_flight`` summed over the live ones, the event-loop lag the
largest of them, and the store, lag and version gauges the most recently set value.
``rectune_worker{pid}`` alone stays per process: it names the worker that answered.

Metric names: ``rectune_request_duration_seconds{route,method}`` (histogram, by route
template such as ``/v1/recommend/{user_id}``, from the first byte received to the last byte
sent), ``rectune_requests_total{route,method,status}``, ``rectune_rejected_total{reason}``
(``overload``: too many in flight, ``queue``: a standing queue, ``body_too_large``),
``rectune_in_flight``, ``rectune_event_loop_lag_seconds``, ``rectune_events_ingested_total``,
``rectune_events_duplicate_total``, ``rectune_items_ingested_total``,
``rectune_model_version{alias}``, ``rectune_model_swaps_total``,
``rectune_updater_lag_events`` (stored events the served version has not consumed),
``rectune_store_last_seq`` and ``rectune_worker{pid}`` (1: which worker answered the scrape).

Beside the histograms, `RecentLatency` keeps the raw latencies since its last drain, so the
dashboard's sampler (`rectune.serving.timeseries`) can chart p50 / p99 per route over time
(a histogram's buckets only give cumulative totals).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Latency buckets in seconds: fine below 20 ms, where the service's goal is.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "<unmatched>"
#: The variable that turns prometheus_client's multiprocess mode on (read at its import).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when this process's metric values live there.

    prometheus_client picks its value class once, at import: a process that imported it
    before the variable was set keeps ordinary in-memory values (and gets None here)."""
    path = os.environ.get(MULTIPROC_ENV)
    in_files = values.ValueClass is not values.MutexValue
    return path if path and in_files else None


#: Routes left out of `RecentLatency`: the dashboard's page (``/``), its assets and its own
#: polling would otherwise be most of an idle service's traffic.
DASHBOARD_PREFIXES = ("/dashboard/", "/v1/dashboard/")


class RecentLatency:
    """Request latencies since the last `drain`, by route (thread-safe, bounded).

    At most ``cap`` latencies are kept per route between two drains (the sampler drains every
    second or so); beyond that the rest of the interval is counted but not kept.
    """

    def __init__(self, cap: int = 50_000) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._values: dict[str, list[float]] = {}
        self._dropped: dict[str, int] = {}

    def add(self, route: str, seconds: float) -> None:
        if route == "/" or route.startswith(DASHBOARD_PREFIXES):
            return
        with self._lock:
            values = self._values.setdefault(route, [])
            if len(values) < self.cap:
                values.append(seconds)
            else:
                self._dropped[route] = self._dropped.get(route, 0) + 1

    def drain(self) -> dict[str, tuple[np.ndarray, int]]:
        """``route -> (latencies kept, requests counted)`` since the last drain; resets."""
        with self._lock:
            values, dropped = self._values, self._dropped
            self._values, self._dropped = {}, {}
        return {
            r: (np.asarray(v, dtype=np.float64), len(v) + dropped.get(r, 0))
            for r, v in values.items()
        }


class ServiceMetrics:
    """The service's metrics in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared_dir = multiprocess_dir()
        r = self.registry
        self.latency = Histogram(
            "rectune_request_duration_seconds",
            "Request latency by route template",
            ["route", "method"],
            buckets=BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "rectune_requests",
            "Requests by route and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.rejected = Counter(
            "rectune_rejected", "Requests refused before the app ran", ["reason"], registry=r
        )
        self.in_flight = Gauge(
            "rectune_in_flight",
            "Requests being handled",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.events = Counter("rectune_events_ingested", "Events stored", registry=r)
        self.duplicates = Counter(
            "rectune_events_duplicate", "Events already stored (retries)", registry=r
        )
        self.items = Counter("rectune_items_ingested", "Item records stored", registry=r)
        self.version = Gauge(
            "rectune_model_version",
            "Version served, by alias",
            ["alias"],
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.swaps = Counter("rectune_model_swaps", "Model versions swapped in", registry=r)
        self.lag = Gauge(
            "rectune_updater_lag_events",
            "Stored events the served version has not consumed",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.last_seq = Gauge(
            "rectune_store_last_seq",
            "Last stored sequence number",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        # Per process by design, so kept out of the shared files in multiprocess mode.
        if self.shared_dir is None:
            worker = Gauge(
                "rectune_worker",
                "The worker process that answered this scrape",
                ["pid"],
                registry=r,
            )
            worker.labels(pid=str(os.getpid())).set(1)
        self.recent = RecentLatency()
        self.loop_lag = Gauge(
            "rectune_event_loop_lag_seconds",
            "How late the event loop ran its last timer (the wait before a request is read)",
            registry=r,
            multiprocess_mode="livemax",
        )

    def _exposed(self) -> CollectorRegistry:
        """The registry a scrape reads: this process's, or every worker's files combined."""
        if self.shared_dir is None:
            return self.registry
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=self.shared_dir)
        return combined

    def events_ingested(self) -> float:
        """Events stored through this service (all workers in multiprocess mode)."""
        value = self._exposed().get_sample_value("rectune_events_ingested_total")
        return 0.0 if value is None else float(value)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.latency.labels(route, method).observe(seconds)
        self.requests.labels(route, method, str(status)).inc()
        self.recent.add(route, seconds)

    def render(self) -> bytes:
        """The exposition text of a scrape, ending with the answering worker's line."""
        text = generate_latest(self._exposed())
        if self.shared_dir is None:
            return text
        return (
            text
            + (
                "# HELP rectune_worker The worker process that answered this scrape\n"
                "# TYPE rectune_worker gauge\n"
                f'rectune_worker{{pid="{os.getpid()}"}} 1.0\n'
            ).encode()
        )

    def close(self) -> None:
        """Retire this process's live gauges from the shared files (multiprocess mode)."""
        if self.shared_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), path=self.shared_dir)


class RequestMetrics:
    """ASGI middleware: time each HTTP request and count it by route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - t0)

"""Prometheus metrics of the service, and the ASGI middleware that times every request.

Each app has its own `CollectorRegistry` (two apps in one process, as in the tests, never
share counters). With ``--workers N`` every worker process counts its own requests; a scrape
of ``/metrics`` answers for the worker that took it (the store and updater gauges are the
same in every worker).

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
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Latency buckets in seconds: fine below 20 ms, where the service's goal is.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "<unmatched>"
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
        self.in_flight = Gauge("rectune_in_flight", "Requests being handled", registry=r)
        self.events = Counter("rectune_events_ingested", "Events stored", registry=r)
        self.duplicates = Counter(
            "rectune_events_duplicate", "Events already stored (retries)", registry=r
        )
        self.items = Counter("rectune_items_ingested", "Item records stored", registry=r)
        self.version = Gauge(
            "rectune_model_version", "Version served, by alias", ["alias"], registry=r
        )
        self.swaps = Counter("rectune_model_swaps", "Model versions swapped in", registry=r)
        self.lag = Gauge(
            "rectune_updater_lag_events",
            "Stored events the served version has not consumed",
            registry=r,
        )
        self.last_seq = Gauge("rectune_store_last_seq", "Last stored sequence number", registry=r)
        self.worker = Gauge(
            "rectune_worker", "The worker process that answered this scrape", ["pid"], registry=r
        )
        self.worker.labels(pid=str(os.getpid())).set(1)
        self.recent = RecentLatency()
        self.loop_lag = Gauge(
            "rectune_event_loop_lag_seconds",
            "How late the event loop ran its last timer (the wait before a request is read)",
            registry=r,
        )

    def events_ingested(self) -> float:
        """This process's events-ingested counter."""
        value = self.registry.get_sample_value("rectune_events_ingested_total")
        return 0.0 if value is None else float(value)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.latency.labels(route, method).observe(seconds)
        self.requests.labels(route, method, str(status)).inc()
        self.recent.add(route, seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


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

"""`create_app`: the FastAPI app of ``rectune serve`` (routes, limits, auth, metrics, lifespan).

The lifespan opens the store, starts loading the served alias (``/readyz`` is 503 until the
model is in) and the updater, and on shutdown stops them in that order's reverse. Under
uvicorn, SIGTERM first marks the process as draining (``/readyz`` 503), then uvicorn stops
accepting, lets the requests in flight finish within ``graceful_seconds`` and runs the
lifespan's shutdown. ``app_from_env`` is the factory each ``--workers`` process calls.

>>> import tempfile, os
>>> from fastapi.testclient import TestClient
>>> from rectune.data import Interactions
>>> from rectune.models.baselines import Baseline
>>> from rectune.online import Registry
>>> tmp = tempfile.mkdtemp()
>>> data = Interactions.from_raw([1, 1, 2, 2, 3], [10, 20, 10, 30, 20], [5, 3, 4, 2, 5])
>>> _ = Baseline().fit(data).save(os.path.join(tmp, "a"))
>>> reg = Registry.init(os.path.join(tmp, "reg"), os.path.join(tmp, "a"))
>>> app = create_app(reg, settings={"update": False})
>>> with TestClient(app) as client:
...     _ = app.state.service.holder.wait_loaded(10)
...     client.get("/v1/recommend/1", params={"n": 2}).json()["items"][0]["item_id"]
30
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from rectune.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    NotFittedError,
    RectuneError,
    RegistryError,
    UnknownIdError,
)
from rectune.online.registry import Registry
from rectune.online.store import EventStore
from rectune.serving.auth import bearer_dependency
from rectune.serving.dashboard import dashboard_router
from rectune.serving.limits import BodyLimit, InFlightLimit
from rectune.serving.metrics import RequestMetrics
from rectune.serving.routes_read import read_router
from rectune.serving.routes_write import write_router
from rectune.serving.schemas import AsciiJSONResponse, invalid
from rectune.serving.service import Service
from rectune.serving.settings import ServeSettings, default_store_url
from rectune.serving.shedding import LoopLag, shed
from rectune.version import __version__

logger = logging.getLogger(__name__)

#: HTTP status of each typed error that reaches the app's handlers (422s in FastAPI's
#: validation-error shape, as the OpenAPI schema states).
STATUS = (
    (UnknownIdError, 404),
    (DataError, 422),
    (ConfigError, 422),
    (RegistryError, 409),
    (ArtifactError, 409),
    (NotFittedError, 503),
    (RectuneError, 400),
)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return AsciiJSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


class ServiceApp(FastAPI):
    """The FastAPI app with read shedding in front of everything (`rectune.serving.shedding`):
    a refused read costs no routing and no middleware."""

    loop_lag: LoopLag | None = None
    rejected: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lag = self.loop_lag
        if lag is not None and lag.admit < 1.0 and await shed(scope, send, lag, self.rejected):
            return
        await super().__call__(scope, receive, send)


def create_app(
    registry: Registry | str | os.PathLike[str],
    store: EventStore | str | None = None,
    settings: ServeSettings | Mapping[str, Any] | None = None,
) -> FastAPI:
    """The service app for the registry ``registry`` and the event store ``store``.

    ``store`` is a URL or an `EventStore` (only its URL is used: the app opens its own
    connection on its store thread); None means ``sqlite:///REG/events.db``. ``settings``
    holds the other `ServeSettings` fields (a `ServeSettings` or a mapping). Bad settings,
    an unreadable token file or a directory that is no registry raise here.
    """
    root = registry.root if isinstance(registry, Registry) else Path(registry)
    url = store.url if isinstance(store, EventStore) else store or default_store_url(root)
    values = dict(settings.to_dict() if isinstance(settings, ServeSettings) else settings or {})
    values.update(registry=str(root), store=url)
    service = Service(ServeSettings.from_dict(values))

    lag = LoopLag(service.settings.shed_lag_ms / 1000, gauge=service.metrics.loop_lag)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(service.start)
        restore = _drain_on_signals(service)
        lag.start()
        try:
            yield
        finally:
            restore()
            service.draining = True
            await lag.stop()
            await anyio.to_thread.run_sync(service.stop)
            service.metrics.close()

    app = ServiceApp(
        title="rectune",
        version=__version__,
        summary="Recommendations, events and model versions over HTTP",
        lifespan=lifespan,
        default_response_class=AsciiJSONResponse,
    )
    app.state.service = service
    app.loop_lag, app.rejected = lag, service.metrics.rejected
    auth = [bearer_dependency(service.token)] if service.token else []
    app.include_router(read_router(service))
    app.include_router(write_router(service, auth))
    app.include_router(dashboard_router(service))
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls, status in STATUS:
        app.add_exception_handler(cls, _handler(status))
    s = service.settings
    app.add_middleware(BodyLimit, max_bytes=s.max_body_bytes, metrics=service.metrics)
    app.add_middleware(InFlightLimit, limit=s.max_in_flight, metrics=service.metrics)
    app.add_middleware(RequestMetrics, metrics=service.metrics)
    return app


def app_from_env() -> FastAPI:
    """The app of one ``rectune serve --workers N`` process (settings from ``RECTUNE_SERVE``)."""
    s = ServeSettings.from_env()
    app = create_app(s.registry, s.store, s)
    settle_process()
    return app


#: GIL switch interval of a service process (CPython's default: 5 ms).
SWITCH_INTERVAL = 0.001


def settle_process() -> None:
    """Tune the interpreter of a service process once its app is built (the server calls it
    before serving; so does each ``--workers`` process).

    * `gc.freeze` moves every object made so far (modules, routes, schemas: ~140,000) out of
      the collector's reach. A full collection of them took 65-130 ms, a pause every request
      in flight waited for, a few times a minute under load; what is left to scan is the
      served models and the requests' own objects (a full collection: ~1 ms).
    * A 1 ms GIL switch interval: while the model thread loads and warms a new version, the
      event loop waits at most this long for the GIL at a time (measured on an ml-latest-small
      SVD: loop lag during a swap at most 3 ms instead of 9 ms).
    """
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)


def _handler(status: int) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        body = invalid(str(exc)) if status == 422 else {"detail": str(exc)}
        return AsciiJSONResponse(body, status_code=status)

    return handle


def _drain_on_signals(service: Service) -> Callable[[], None]:
    """Chain a handler before the server's SIGTERM / SIGINT handler that marks the service
    as draining, so ``/readyz`` answers 503 from the signal on. Only in the main thread, and
    only over a Python handler (uvicorn's): otherwise signals are left alone."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    installed: dict[int, tuple[Any, Any]] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def on_signal(signum: int, frame: Any, previous: Any = previous) -> None:
            service.draining = True
            previous(signum, frame)

        signal.signal(sig, on_signal)
        installed[sig] = (on_signal, previous)

    def restore() -> None:
        for sig, (ours, previous) in installed.items():
            if signal.getsignal(sig) is ours:
                signal.signal(sig, previous)

    return restore

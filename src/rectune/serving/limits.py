"""ASGI middleware that bounds what the service takes on: request bodies and requests in flight.

`BodyLimit` answers 413 from the ``Content-Length`` header before any of the body is read;
a body without a length (chunked) is counted while it streams in and refused, 413, as soon
as it passes the limit, so no request can make the service buffer more than ``max_bytes``.

`InFlightLimit` keeps at most ``limit`` requests inside the app; one more is answered 503
with ``Retry-After: 1`` at once, without queueing, so an overloaded service sheds load in
microseconds instead of building an unbounded queue whose every request times out. The
probes (``/livez``, ``/readyz``) and ``/metrics`` are exempt: a saturated service still
reports on itself. The counter lives on the event loop's thread (no lock needed).
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rectune.serving.metrics import ServiceMetrics

EXEMPT = frozenset({"/livez", "/readyz", "/metrics"})


async def send_json(
    send: Send, status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> None:
    """Send a whole JSON response from middleware (before the app ran)."""
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (FastAPI answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


def _content_length(scope: Scope) -> bytes | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return bytes(value)
    return None


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: ServiceMetrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            # The server frames the body by this header, so it bounds what can arrive.
            if not length.isdigit():
                await send_json(send, 400, {"detail": "Content-Length is not a number"})
                return
            if int(length) > self.max_bytes:
                self.metrics.rejected.labels("body_too_large").inc()
                detail = f"request body of {int(length)} bytes over the limit of {self.max_bytes}"
                await send_json(send, 413, {"detail": detail}, {"connection": "close"})
                return
            await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    self.metrics.rejected.labels("body_too_large").inc()
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # read outside a route (FastAPI answers it inside one)
            if started:
                raise
            await send_json(send, 413, {"detail": exc.detail}, {"connection": "close"})


class InFlightLimit:
    """At most ``limit`` requests in the app at once; the next is answered 503 at once."""

    def __init__(self, app: ASGIApp, limit: int, metrics: ServiceMetrics) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            self.metrics.rejected.labels("overload").inc()
            detail = f"overloaded: {self.limit} requests in flight; retry after a second"
            await send_json(send, 503, {"detail": detail}, {"retry-after": "1"})
            return
        self.active += 1
        self.metrics.in_flight.set(self.active)
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            self.metrics.in_flight.set(self.active)

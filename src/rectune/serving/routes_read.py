"""The open (read-only) routes: recommendations, similar items, models, probes and metrics.

The one-item routes (``GET /v1/recommend/{user_id}``, ``GET /v1/similar/{item_id}``) are the
hot path. Their answer is computed on the event loop when the served model answers one user
in at most `INLINE_SECONDS` (`Live.answer_seconds`, measured when it was warmed): for the
MovieLens-sized models that is ~0.1 ms, less than the hop to a worker thread, and keeping
it off the thread pool avoids the GIL hand-offs between request threads that cost
milliseconds of tail latency. A dearer model's answers, and the batch routes, run in worker
threads so the event loop keeps accepting. The hot routes return their JSON directly (the
response model documents it; re-validating our own output would cost more than computing
it). Each route reads the served `Live` once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response

from rectune.errors import ConfigError
from rectune.serving import answers
from rectune.serving.metrics import CONTENT_TYPE
from rectune.serving.schemas import (
    MAX_ID,
    AsciiJSONResponse,
    BatchRecommendation,
    BatchRequest,
    Models,
    Problem,
    Recommendation,
    RecommendRequest,
    Similar,
)
from rectune.serving.service import Service
from rectune.serving.settings import MAX_N
from rectune.serving.state import Live

T = TypeVar("T")
#: One-user answers of a model that answers within this many seconds run on the event loop.
INLINE_SECONDS = 0.002
N = Annotated[int, Query(ge=1, le=MAX_N, description="How many items (1..1000).")]
RawId = Annotated[str, PathParam(min_length=1, max_length=MAX_ID)]
UNREADY = {503: {"model": Problem, "description": "No model loaded yet"}}
TOO_LARGE = {
    400: {"model": Problem, "description": "The body is not JSON"},
    413: {"model": Problem, "description": "Body or batch over its limit"},
}


async def compute(live: Live, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the event loop if ``live`` answers cheaply, else in a worker thread."""
    if live.answer_seconds <= INLINE_SECONDS:
        return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args)


def read_router(service: Service) -> APIRouter:
    """The read routes of ``service``."""
    router = APIRouter()
    settings = service.settings

    @router.get("/v1/recommend/{user_id}", response_model=Recommendation, responses=UNREADY)
    async def recommend(user_id: RawId, n: N = 10) -> Response:
        """The top ``n`` items for a user, seen items excluded; an unknown user gets the most
        popular items and ``fallback`` true."""
        live = service.live()
        out = await compute(live, answers.recommend_users, live, [user_id], n)
        return AsciiJSONResponse(out[0])

    @router.post(
        "/v1/recommend",
        response_model=BatchRecommendation | Recommendation,
        responses={**UNREADY, **TOO_LARGE},
    )
    def recommend_many(body: RecommendRequest) -> dict[str, Any]:
        """A batch (``users``: one result per user, all from one model version) or an
        anonymous session (``session_items``: scored by the model's item similarities to
        the session's recent items, the latest weighing most; see
        `rectune.serving.answers.recommend_session`)."""
        live = service.live()
        if isinstance(body, BatchRequest):
            if len(body.users) > settings.max_users:
                raise HTTPException(413, f"{len(body.users)} users over {settings.max_users}")
            results = answers.recommend_users(live, body.users, body.n)
            return {"model_version": live.version, "results": results}
        items = body.session_items
        if len(items) > settings.max_session_items:
            raise HTTPException(
                413, f"{len(items)} session items over {settings.max_session_items}"
            )
        return answers.recommend_session(live, items, body.n)

    @router.get(
        "/v1/similar/{item_id}",
        response_model=Similar,
        responses={
            **UNREADY,
            404: {"model": Problem, "description": "Unknown item"},
            501: {"model": Problem, "description": "The model has no item similarities"},
        },
    )
    async def similar(item_id: RawId, n: N = 10) -> Response:
        """The ``n`` items most similar to an item (the model's item factors or similarity
        matrix)."""
        live = service.live()
        if not live.similarities:
            raise HTTPException(501, f"{live.model.name} has no item similarities")
        try:
            out = await compute(live, answers.similar, live, item_id, n)
        except ConfigError as exc:
            raise HTTPException(501, str(exc)) from None
        if out is None:
            raise HTTPException(404, f"unknown item {item_id!r}")
        return AsciiJSONResponse(out)

    @router.get("/v1/models", response_model=Models)
    def models() -> dict[str, Any]:
        """Every version with its aliases, lineage, consumed events, metrics and last guard
        result; what this process serves; its updater's status."""
        with service.registry_lock:
            service.registry.reload()
            versions, aliases = service.registry.list(), service.registry.aliases
        live = service.holder.current
        serving = None
        if live is not None:
            serving = {"alias": live.alias, "version": live.version, "since": live.loaded_at}
        return {
            "versions": versions,
            "aliases": aliases,
            "serving": serving,
            "updater": service.updater_status(),
        }

    @router.get("/livez")
    async def livez() -> dict[str, str]:
        """The process is up and its event loop answers."""
        return {"status": "alive"}

    @router.get("/readyz", responses={503: {"description": "Loading or draining"}})
    async def readyz() -> JSONResponse:
        """200 once a model is loaded; 503 before that and while draining (after SIGTERM)."""
        ok, body = service.ready()
        return AsciiJSONResponse(body, status_code=200 if ok else 503)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        await service.refresh_gauges()
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    return router

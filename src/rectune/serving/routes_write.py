"""The write routes: events, item records, promotion and rollback (each needs the token).

``POST /v1/events`` answers only once the batch is durably committed (the store's
``synchronous=FULL`` commit, or PostgreSQL's), so an acknowledged event survives a crash;
retrying a batch with the same ``event_id``\\ s stores nothing twice (``duplicates``).

``POST /v1/models/{version}/promote`` goes through the registry's guard, scored on held-out
events: the most recent ``guard_events`` stored events that neither the candidate nor the
current target consumed (`Service.held_out`). With no such event the promotion is refused
(409) unless ``force`` is given, which skips the accuracy check but never the verification.
An accepted promotion or rollback of the served alias is loaded and swapped in before the
answer, so every later response of this process names the new version (other worker
processes follow within ``poll_seconds``). A refusal answers 409 with the guard's values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from rectune.errors import DataError, RegistryError
from rectune.online.guard import Promotion
from rectune.online.store import EventStore
from rectune.serving.schemas import (
    Appended,
    AsciiJSONResponse,
    EventsRequest,
    ItemsRequest,
    Problem,
    PromoteRequest,
    PromotionResult,
    RollbackRequest,
    invalid,
)
from rectune.serving.service import Service

AUTH = {
    401: {"model": Problem, "description": "No bearer token"},
    403: {"model": Problem, "description": "Wrong bearer token"},
}
BAD_BODY = {400: {"model": Problem, "description": "The body is not JSON"}}
TOO_LARGE = {**BAD_BODY, 413: {"model": Problem, "description": "Body or batch over its limit"}}
STORED = {
    **TOO_LARGE,
    409: {"description": "Ids of another type than the store's (HTTPValidationError shape)"},
}
REFUSED = {
    **BAD_BODY,
    409: {
        "model": PromotionResult | Problem,
        "description": "Refused: the guard's values (PromotionResult), or why not (Problem)",
    },
}


def _result(p: Promotion, held_out: int | None = None) -> JSONResponse:
    body = PromotionResult(
        accepted=p.accepted,
        action=p.action,
        alias=p.alias,
        from_version=p.from_version,
        to_version=p.to_version,
        guard=p.guard,
        forced=p.forced,
        checks=[c.__dict__ for c in p.checks],
        reason=p.reason,
        held_out_events=held_out,
    )
    return AsciiJSONResponse(body.model_dump(), status_code=200 if p.accepted else 409)


def _refused_rows(exc: DataError, what: str) -> JSONResponse:
    """422 for a batch the store refused, ``loc`` naming the row and field of the first bad
    record (``["body", "events", 3, "timestamp"]``); 409 when the batch is well-formed but
    conflicts with what the store holds (a string id where the store's ids are integers)."""
    loc: list[str | int] = [what]
    if exc.row is not None:
        loc.append(exc.row)
    if exc.field is not None:
        loc.append(exc.field)
    status = 409 if exc.reason.startswith("the store holds") else 422
    return AsciiJSONResponse(invalid(str(exc), *loc), status_code=status)


def write_router(service: Service, auth: list[Callable[..., Any]]) -> APIRouter:
    """The write routes of ``service``, each behind the ``auth`` dependencies."""
    router = APIRouter(dependencies=[Depends(a) for a in auth], responses=AUTH if auth else {})
    settings = service.settings

    def check_batch(n: int, what: str) -> None:
        if n > settings.max_events:
            raise HTTPException(413, f"{n} {what} in one request, over {settings.max_events}")

    @router.post("/v1/events", response_model=Appended, responses=STORED)
    async def post_events(body: EventsRequest) -> Any:
        """Store events; answered after the durable commit. A bad event is 422 naming its
        position (``row``, 0-based) and field, and nothing of the batch is stored."""
        check_batch(len(body.events), "events")
        rows = [e.model_dump(exclude_none=True) for e in body.events]
        try:
            out = await service.store.acall(EventStore.append, rows)
        except DataError as exc:
            return _refused_rows(exc, "events")
        service.metrics.events.inc(out["accepted"])
        service.metrics.duplicates.inc(out["duplicates"])
        return out

    @router.post("/v1/items", response_model=Appended, responses=STORED)
    async def post_items(body: ItemsRequest) -> Any:
        """Store new or changed items (text, features); an unchanged record is a duplicate.
        The updater gives a new item with text a row from its text at its next cycle."""
        check_batch(len(body.items), "items")
        rows = [r.model_dump(exclude_none=True) for r in body.items]
        try:
            out = await service.store.acall(EventStore.append_items, rows)
        except DataError as exc:
            return _refused_rows(exc, "items")
        service.metrics.items.inc(out["accepted"])
        return out

    @router.post(
        "/v1/models/{version}/promote",
        response_model=PromotionResult,
        responses={**REFUSED, 404: {"model": Problem, "description": "Unknown version"}},
    )
    def promote(
        version: Annotated[int, PathParam(ge=1, le=2**31)],
        body: Annotated[PromoteRequest | None, Body()] = None,
    ) -> JSONResponse:
        """Move an alias to a version if it verifies and passes the guard on held-out events
        (see the module docstring)."""
        req = body or PromoteRequest()
        held = None
        with service.registry_lock:
            reg = service.registry
            reg.reload()
            if version not in {v.version for v in reg.versions}:
                raise HTTPException(404, f"no version {version} in {reg.root}")
            current = reg.aliases.get(req.alias)
            data = None
            if not req.force and current is not None and current != version:
                data = service.held_out(version, current)
                if data is None:
                    raise HTTPException(
                        409,
                        f"no held-out events to check the guard on: every stored event was "
                        f"consumed by version {version} or {current}; pass force to promote "
                        "without the accuracy check",
                    )
                held = len(data)
            # No other version to compare with (a new alias, or the version it is on): the
            # guard has nothing to check, as with force.
            guard = req.guard if data is not None or req.force else None
            try:
                result = reg.promote(
                    version, alias=req.alias, guard=guard, data=data, force=req.force
                )
            except RegistryError as exc:
                raise HTTPException(409, str(exc)) from None
        if result.accepted and req.alias == settings.alias:
            service.holder.sync()
        return _result(result, held)

    @router.post("/v1/models/rollback", response_model=PromotionResult, responses=REFUSED)
    def rollback(body: Annotated[RollbackRequest | None, Body()] = None) -> JSONResponse:
        """Move an alias back to its previous target (verified first); repeatable."""
        req = body or RollbackRequest()
        with service.registry_lock:
            try:
                result = service.registry.rollback(req.alias)
            except RegistryError as exc:
                raise HTTPException(409, str(exc)) from None
        if result.accepted and req.alias == settings.alias:
            service.holder.sync()
        return _result(result)

    return router

"""The dashboard: a page at ``/`` and the JSON routes it polls (``/v1/dashboard/...``).

The page (``static/dashboard.html``, ``.css``, ``.js``, shipped in the package) is plain
HTML, CSS and hand-written JavaScript drawing inline SVG charts; it loads nothing from outside
the service (a ``Content-Security-Policy`` of ``'self'`` holds it to that) and refreshes its
data every few seconds. It shows:

- the versions and aliases over time with their guard results (`versions`: the registry's
  versions and its audit log of promotions, refusals and rollbacks with both metric values),
- the live prequential accuracy curve (each updater version's ``metrics["prequential"]``),
- ingest rate, updater lag and request latency (`series`: the `Sampler`'s time series),
- a "look at a user" panel (`user`: the user's newest stored events, the items the served
  model learned for them, and their recommendations, with titles from `TitleBook`).

``/?user=ID`` fills the panel in on load.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from rectune.serving import answers
from rectune.serving.answers import _json_id
from rectune.serving.dashboard_schemas import DashboardSeries, DashboardUser, DashboardVersions
from rectune.serving.routes_read import UNREADY, N, RawId
from rectune.serving.service import Service
from rectune.serving.state import Live

#: The newest audit records the versions view returns.
MAX_AUDIT = 500
#: The most recent events and learned items the user panel lists.
MAX_RECENT = 100
PROMOTIONS = ("promote", "refuse", "rollback", "rollback-refused")
#: The page may load only from the service itself.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
Recent = Annotated[int, Query(ge=0, le=MAX_RECENT, description="How many recent items.")]
Seconds = Annotated[
    float | None,
    Query(gt=0, le=86_400, description="Only samples of the last this many seconds."),
]


def asset(name: str) -> bytes:
    """A file of ``rectune/serving/static`` (package data)."""
    return resources.files("rectune.serving").joinpath("static", name).read_bytes()


def _version_row(row: dict[str, Any]) -> dict[str, Any]:
    metrics = row.get("metrics") or {}
    return {
        "version": row["version"],
        "aliases": row["aliases"],
        "parent": row["parent"],
        "created_at": row["created_at"],
        "events": row["events"],
        "prequential": metrics.get("prequential"),
        "update": metrics.get("update"),
        "guard": row["guard"],
        "error": row.get("error"),
    }


def _audit_row(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": rec.get("seq"),
        "at": rec.get("at"),
        "action": rec["action"],
        "alias": rec.get("alias"),
        "from_version": rec.get("from"),
        "to_version": rec.get("to"),
        "guard": rec.get("guard"),
        "forced": bool(rec.get("forced")),
        "checks": list(rec.get("checks") or []),
        "reason": rec.get("reason"),
    }


def versions(service: Service) -> dict[str, Any]:
    """Versions, the newest promotion records, aliases and their rollback stacks."""
    with service.registry_lock:
        reg = service.registry
        reg.reload()
        rows, audit, aliases = reg.list(), reg.audit(), reg.aliases
        history = {a: reg.history(a) for a in aliases}
    promotions = [r for r in audit if r.get("action") in PROMOTIONS][-MAX_AUDIT:]
    live = service.holder.current
    serving = None
    if live is not None:
        serving = {"alias": live.alias, "version": live.version, "since": live.loaded_at}
    return {
        "versions": [_version_row(r) for r in rows],
        "audit": [_audit_row(r) for r in promotions],
        "aliases": aliases,
        "history": history,
        "serving": serving,
        "updater": service.updater_status(),
    }


def series(service: Service, seconds: float | None = None) -> dict[str, Any]:
    """The sampler's time series and the last minute's latency per route."""
    sampler = service.sampler
    return {
        "interval": sampler.interval,
        "samples": sampler.series(seconds),
        "latency": sampler.latency_table(),
    }


def learned_items(live: Live, user: int | str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The items the model learned for ``user`` (its seen matrix), highest value first, and
    how many there are (([], 0) for an unknown user)."""
    model = live.model
    idx = int(model.user_map_.index_of(np.array([user], dtype=object))[0])
    if idx < 0:
        return [], 0
    row = model.seen_.getrow(idx)
    cols, vals = row.indices, row.data
    order = np.lexsort((cols, -vals))[:limit]  # by value, then by item index (stable ties)
    ids = model.item_map_.ids[cols[order]]
    items = [
        {"item_id": _json_id(i), "value": float(v)}
        for i, v in zip(ids.tolist(), vals[order].tolist(), strict=True)
    ]
    return items, len(cols)


def user(service: Service, user_id: str, n: int, recent: int) -> dict[str, Any]:
    """The user panel: newest stored events, learned items, recommendations, with titles."""
    live = service.live()
    rec = answers.recommend_users(live, [user_id], n)[0]
    uid = answers.as_model_id(user_id, live.model.user_map_)
    batch = service.store.call(lambda store: store.user_events(uid, recent))
    service.titles.refresh(service.store.call)
    seen, seen_count = learned_items(live, uid, recent)
    titles = service.titles
    stored = [
        {
            "item_id": _json_id(batch.item_id[k]),
            "value": float(batch.value[k]),
            "timestamp": int(batch.timestamp[k]),
            "seq": int(batch.seq[k]),
        }
        for k in range(len(batch))
    ]
    for row in (*stored, *seen, *rec["items"]):
        row["title"] = titles.get(row["item_id"])
    return {
        "user_id": rec["user_id"],
        "known": not rec["fallback"],
        "model_version": rec["model_version"],
        "fallback": rec["fallback"],
        "recent": stored,
        "seen": seen,
        "seen_count": seen_count,
        "recommendations": rec["items"],
        "titles": titles.has_titles,
    }


def dashboard_router(service: Service) -> APIRouter:
    """The dashboard's page, assets and JSON routes for ``service``."""
    router = APIRouter()
    page = asset("dashboard.html")
    files = {name: asset(name) for name in ASSETS}
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        """The dashboard page."""
        return HTMLResponse(page, headers=headers)

    for name, media in ASSETS.items():

        async def serve_asset(name: str = name, media: str = media) -> Response:
            return Response(files[name], media_type=media, headers=headers)

        router.add_api_route(
            f"/dashboard/{name}", serve_asset, methods=["GET"], include_in_schema=False
        )

    @router.get("/v1/dashboard/versions", response_model=DashboardVersions)
    def dashboard_versions() -> dict[str, Any]:
        """Versions and aliases over time with their guard results (for the dashboard)."""
        return versions(service)

    @router.get("/v1/dashboard/series", response_model=DashboardSeries)
    def dashboard_series(seconds: Seconds = None) -> dict[str, Any]:
        """Ingest rate, updater lag, served version and latency per route, sampled about
        once a second in this process (the last 10 minutes)."""
        return series(service, seconds)

    @router.get("/v1/dashboard/user/{user_id}", response_model=DashboardUser, responses=UNREADY)
    def dashboard_user(user_id: RawId, n: N = 10, recent: Recent = 20) -> dict[str, Any]:
        """A user's newest stored events, the items the served model learned for them and
        their top ``n`` recommendations, with item titles where the service has them."""
        return user(service, user_id, n, recent)

    return router

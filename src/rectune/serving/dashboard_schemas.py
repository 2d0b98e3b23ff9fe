"""Response bodies of the dashboard's JSON routes (``/v1/dashboard/...``), for the OpenAPI
schema and its fuzzing. Latencies are in milliseconds, times are Unix seconds (samples) or
ISO 8601 UTC (registry records, as the registry writes them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class VersionRow(BaseModel):
    """One registry version as the dashboard charts it."""

    version: int
    aliases: list[str]
    parent: int | None
    created_at: str | None
    events: dict[str, int] | None
    """The consumed range: ``first_seq``, ``last_seq``, ``count``."""
    prequential: dict[str, float | None] | None
    """The updater's test-then-train metrics of the events this version learned, scored by
    its parent before it learned them (``rmse``/``mae`` or ``ndcg@10``/``recall@10``, ``n``)."""
    update: dict[str, Any] | None
    """How the updater made it: ``policy``, ``base_version``, ``holdout``..."""
    guard: dict[str, Any] | None
    """Its last promotion or refusal: action, guard, checks with both values."""
    error: str | None = None


class AuditRow(BaseModel):
    """A promotion, refusal or rollback from the registry's audit log."""

    seq: int | None
    at: str | None
    action: str
    alias: str | None
    from_version: int | None
    to_version: int | None
    guard: str | None
    forced: bool
    checks: list[dict[str, Any]]
    """Each rule: ``metric``, ``candidate``, ``current``, ``delta``, ``op``, ``allowed``,
    ``passed``."""
    reason: str | None


class DashboardVersions(BaseModel):
    """``GET /v1/dashboard/versions``."""

    versions: list[VersionRow]
    audit: list[AuditRow]
    """The newest promotion records, oldest first (at most `MAX_AUDIT`)."""
    aliases: dict[str, int]
    history: dict[str, list[int]]
    """Each alias's rollback targets, oldest first."""
    serving: dict[str, Any] | None
    updater: dict[str, Any] | None


class LatencyRow(BaseModel):
    p50: float
    p99: float
    n: float
    rps: float | None = None


class SampleRow(BaseModel):
    t: float
    last_seq: int
    events_total: float
    rate: float | None
    """Store rows per second since the previous sample."""
    lag: int | None
    version: int | None
    latency: dict[str, LatencyRow]


class DashboardSeries(BaseModel):
    """``GET /v1/dashboard/series``."""

    interval: float
    """Seconds between samples."""
    samples: list[SampleRow]
    latency: dict[str, LatencyRow]
    """Per route over the last minute (``rps``: requests per second)."""


class ItemRow(BaseModel):
    item_id: int | str
    title: str | None
    score: float | None = None
    value: float | None = None
    timestamp: int | None = None
    seq: int | None = None


class DashboardUser(BaseModel):
    """``GET /v1/dashboard/user/{user_id}``."""

    user_id: int | str
    known: bool
    """Whether the served model knows the user."""
    model_version: int
    fallback: bool
    recent: list[ItemRow]
    """The user's newest events in the store, newest first."""
    seen: list[ItemRow]
    """Items the served model learned for the user, highest value first."""
    seen_count: int
    recommendations: list[ItemRow]
    titles: bool
    """Whether the service has any item titles (else ids are shown)."""

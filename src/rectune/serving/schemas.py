"""Request and response bodies of the HTTP API (pydantic), i.e. the JSON contract of issue 9.

Ids are JSON integers or strings (``StrictInt | StrictStr``: ``5`` and ``"5"`` stay what they
are); the routes convert them to the id type of the model or store they reach.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from rectune.serving.settings import MAX_N

#: The id length the store accepts (`rectune.online` refuses longer ids).
MAX_ID = 256
Id = (
    Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
    | Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID)]
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoredItem(BaseModel):
    item_id: int | str
    score: float


class Recommendation(BaseModel):
    """``GET /v1/recommend/{user_id}``: the top items of one user."""

    user_id: int | str | None
    """The user (None for an anonymous session)."""
    items: list[ScoredItem]
    model_version: int
    fallback: bool
    """True when the user (or every session item) is unknown and popularity answered."""


class RecommendRequest(_Body):
    """``POST /v1/recommend``: either ``users`` (a batch) or ``session_items`` (anonymous)."""

    users: list[Id] | None = None
    session_items: list[Id] | None = None
    """The session's recent items, oldest first (the latest weigh most)."""
    n: int = Field(10, ge=1, le=MAX_N)

    @model_validator(mode="after")
    def _one_of(self) -> RecommendRequest:
        if (self.users is None) == (self.session_items is None):
            raise ValueError("give exactly one of users (a batch) or session_items (a session)")
        return self


class BatchRecommendation(BaseModel):
    """The answer to ``POST /v1/recommend`` with ``users``: one recommendation per user."""

    model_version: int
    results: list[Recommendation]


class Similar(BaseModel):
    """``GET /v1/similar/{item_id}``."""

    item_id: int | str
    items: list[ScoredItem]
    model_version: int


class Event(_Body):
    """One interaction; ``event_id`` makes retries idempotent (a content hash when absent)."""

    event_id: Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID)] | None = None
    user_id: Id
    item_id: Id
    value: float = 1.0
    timestamp: Annotated[StrictInt, Field(ge=0, le=2**53)] | None = None
    """Unix seconds (the arrival time when absent)."""


class EventsRequest(_Body):
    events: list[Event]


class Appended(BaseModel):
    """What the store committed (``POST /v1/events`` and ``POST /v1/items``)."""

    accepted: int
    duplicates: int
    last_seq: int


class ItemRecord(_Body):
    """A new or changed item: its text (title, description) and features."""

    item_id: Id
    text: str | None = None
    features: dict[str, Any] | None = None


class ItemsRequest(_Body):
    items: list[ItemRecord]


class PromoteRequest(_Body):
    """``POST /v1/models/{version}/promote``."""

    guard: str | None = None
    """``rmse<=+0.005`` or ``ndcg@10>=-0.01`` (default: not worse at all)."""
    alias: str = "champion"
    force: bool = False
    """Skip the accuracy check (verification always runs)."""


class RollbackRequest(_Body):
    alias: str = "champion"


class Check(BaseModel):
    metric: str
    candidate: float | None
    current: float | None
    delta: float | None
    op: str
    allowed: float
    passed: bool


class PromotionResult(BaseModel):
    """A promotion or rollback: moved (``accepted``) or refused, why, and the guard's checks."""

    accepted: bool
    action: str
    alias: str
    from_version: int | None
    to_version: int
    guard: str | None
    forced: bool
    checks: list[Check]
    reason: str | None
    held_out_events: int | None = None
    """How many stored events the guard was scored on (promotions only)."""


class Models(BaseModel):
    """``GET /v1/models``: every version (as ``rectune registry list --json``), the aliases,
    what this process serves, and its updater's status."""

    versions: list[dict[str, Any]]
    aliases: dict[str, int]
    serving: dict[str, Any] | None
    updater: dict[str, Any] | None


class Problem(BaseModel):
    detail: str

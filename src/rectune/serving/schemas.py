"""Request and response bodies of the HTTP API (pydantic), i.e. the JSON contract of issue 9.

Ids are JSON integers or strings (``StrictInt | StrictStr``: ``5`` and ``"5"`` stay what they
are); the routes convert them to the id type of the model or store they reach. Integer ids
are bounded by +-2**53, what a JSON number carries exactly in every client; a larger integer
id travels as its decimal string (``"9007199254740993"``), which an integer store and model
read as the integer. Request bodies are strict: ``false`` is no number, ``0`` no boolean.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)

from rectune.evaluation.metric_names import METRIC_ALIASES, RANKING_METRICS, RATING_METRICS
from rectune.serving.settings import MAX_N

#: The id length the store accepts (`rectune.online` refuses longer ids).
MAX_ID = 256
MAX_INT_ID = 2**53
#: The largest timestamp the store accepts (the end of year 9999, in Unix seconds).
MAX_TIMESTAMP = 253_402_300_799
#: No C0 control character or DEL (the store refuses them in ids).
NO_CONTROL = r"^[^\u0000-\u001f\u007f]+$"


def _integral(x: Any) -> Any:
    """``60.0`` is the JSON integer 60 (JSON Schema's ``integer``); other input unchanged."""
    return int(x) if isinstance(x, float) and x.is_integer() and abs(x) <= 2**63 else x


def _unicode(x: str) -> str:
    """Refuse lone surrogates (JSON ``"\\udc00"``): no store or response can encode them."""
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return x


#: A JSON string that is valid Unicode.
Text = Annotated[StrictStr, AfterValidator(_unicode)]


def json_int(ge: int, le: int) -> Any:
    """A JSON integer in ``[ge, le]``: an int or an integral float, never a bool or a string.
    (The bounds come before the validator, so the JSON schema states them.)"""
    return Annotated[StrictInt, Field(ge=ge, le=le), BeforeValidator(_integral)]


def _guard_pattern() -> str:
    """The guards `parse_guard` accepts, as a regular expression: rating metrics with ``<=``,
    ranking metrics at a cut-off with ``>=``, plain decimal deltas, comma-separated."""
    ranking = "|".join([*RANKING_METRICS, *METRIC_ALIASES])
    num = r"\s*[-+]?[0-9]{1,6}(\.[0-9]{1,9})?\s*"
    rule = rf"\s*(({'|'.join(RATING_METRICS)})\s*<=|({ranking})@[1-9][0-9]{{0,3}}\s*>=){num}"
    return rf"^{rule}(,{rule})*$"


IdText = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_ID, pattern=NO_CONTROL),  # before the validator: the
    AfterValidator(_unicode),  # JSON schema states only constraints that come first
]
Id = json_int(-MAX_INT_ID, MAX_INT_ID) | IdText
Count = json_int(1, MAX_N)
Timestamp = json_int(0, MAX_TIMESTAMP)
Alias = Annotated[StrictStr, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
Guard = Annotated[StrictStr, Field(pattern=_guard_pattern())]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


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


class BatchRequest(_Body):
    """``POST /v1/recommend`` for a batch of users."""

    users: list[Id]
    n: Count = 10


class SessionRequest(_Body):
    """``POST /v1/recommend`` for an anonymous session."""

    session_items: list[Id]
    """The session's recent items, oldest first (the latest weigh most)."""
    n: Count = 10


RecommendRequest = BatchRequest | SessionRequest


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

    event_id: IdText | None = None
    user_id: Id
    item_id: Id
    value: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    timestamp: Timestamp | None = None
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
    text: Text | None = None
    features: dict[str, Any] | None = None


class ItemsRequest(_Body):
    items: list[ItemRecord]


class PromoteRequest(_Body):
    """``POST /v1/models/{version}/promote``."""

    guard: Guard | None = None
    """``rmse<=+0.005`` or ``ndcg@10>=-0.01`` (default: not worse at all)."""
    alias: Alias = "champion"
    force: bool = False
    """Skip the accuracy check (verification always runs)."""


class RollbackRequest(_Body):
    alias: Alias = "champion"


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


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII characters escaped: any text a request carried, even a lone
    surrogate echoed back in a validation error, encodes (UTF-8 cannot carry those)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


class Problem(BaseModel):
    detail: str


def invalid(message: str, *loc: str | int) -> dict[str, Any]:
    """A 422 body in FastAPI's validation-error shape (``HTTPValidationError``), for input
    that parses but that the store or registry refuses: ``loc`` points at the field."""
    return {"detail": [{"loc": ["body", *loc], "msg": message, "type": "value_error"}]}

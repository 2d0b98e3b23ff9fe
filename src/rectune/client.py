"""`Client`: a Python client of ``rectune serve`` with retries that never store an event twice.

`Client.send_events` gives every event without an ``event_id`` a random one (uuid4) once,
before the first attempt, and sends the same ids on every retry: the store treats a known
id as a duplicate, so a batch whose answer was lost (a connection reset, a timeout, a
server killed after its commit) is safe to resend and is stored exactly once. Reads and
writes retry on connection errors, timeouts, 429 and 5xx (but 501, 505) with exponential backoff
(honouring ``Retry-After``); promotions and rollbacks, which are not idempotent, retry only
when the connection was never made.

>>> Client("http://127.0.0.1:8000", token="s3cret").base_url
'http://127.0.0.1:8000'
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from rectune.errors import RectuneError

#: Server errors that say nothing will change on a retry (all other 5xx and 429 are retried).
FINAL_STATUS = frozenset({501, 505})


def _retryable(status: int) -> bool:
    return status == 429 or (500 <= status < 600 and status not in FINAL_STATUS)


class ServiceError(RectuneError):
    """The service answered with an error (``status``; ``detail`` is its message)."""

    def __init__(self, status: int, detail: Any, method: str, path: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{method} {path}: HTTP {status}: {detail}")


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (JSON cannot carry them)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


class Client:
    """A client of the service at ``base_url``.

    Parameters
    ----------
    token
        The bearer token of the service's ``--token-file`` (write routes need it).
    retries
        Attempts after the first one; the wait doubles from ``backoff`` up to
        ``max_backoff`` seconds, with jitter.
    timeout
        Seconds per attempt.
    transport
        An httpx transport to send through (default: a connection pool to ``base_url``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        retries: int = 5,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        timeout: float = 10.0,
        rng: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.base_url = base_url.rstrip("/")
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._random = random.Random(rng)
        self.attempts = 0
        """Requests sent, retries included (for tests and load reports)."""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reads
    def recommend(self, user_id: int | str, n: int = 10) -> dict[str, Any]:
        """``{"user_id", "items": [{"item_id", "score"}], "model_version", "fallback"}``."""
        if isinstance(user_id, str) and "/" in user_id:  # a path segment cannot hold it
            return self.recommend_many([user_id], n)["results"][0]
        return self._call("GET", f"/v1/recommend/{quote(str(user_id), safe='')}", {"n": n})

    def recommend_many(self, users: Iterable[int | str], n: int = 10) -> dict[str, Any]:
        """``{"model_version", "results": [...]}``: one recommendation per user."""
        body = {"users": [_plain(u) for u in users], "n": n}
        return self._call("POST", "/v1/recommend", json=body)

    def recommend_session(self, items: Iterable[int | str], n: int = 10) -> dict[str, Any]:
        """Recommendations for an anonymous session from its recent items (oldest first)."""
        body = {"session_items": [_plain(i) for i in items], "n": n}
        return self._call("POST", "/v1/recommend", json=body)

    def similar(self, item_id: int | str, n: int = 10) -> dict[str, Any]:
        """``{"item_id", "items": [{"item_id", "score"}], "model_version"}``."""
        return self._call("GET", f"/v1/similar/{quote(str(item_id), safe='')}", {"n": n})

    def models(self) -> dict[str, Any]:
        return self._call("GET", "/v1/models")

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200 (one attempt, no retry)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    # ------------------------------------------------------------------ writes
    def send_events(
        self, events: Iterable[Mapping[str, Any]], *, batch_size: int = 1000
    ) -> dict[str, Any]:
        """Store events in batches of ``batch_size``; each batch is retried with the same
        ``event_id``\\ s. Returns the summed ``accepted`` and ``duplicates``, the last
        ``last_seq``, and the ``event_ids`` sent (in order)."""
        rows = [{k: _plain(v) for k, v in e.items()} for e in events]
        for row in rows:
            if row.get("event_id") is None:
                row["event_id"] = uuid.uuid4().hex  # assigned once: every retry reuses it
        out: dict[str, Any] = {"accepted": 0, "duplicates": 0, "last_seq": None}
        for start in range(0, len(rows), batch_size):
            got = self._call(
                "POST", "/v1/events", json={"events": rows[start : start + batch_size]}
            )
            out["accepted"] += got["accepted"]
            out["duplicates"] += got["duplicates"]
            out["last_seq"] = got["last_seq"]
        out["event_ids"] = [r["event_id"] for r in rows]
        return out

    def send_items(self, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Store item records (``item_id``, ``text``, ``features``); resending is harmless."""
        body = {"items": [{k: _plain(v) for k, v in r.items()} for r in items]}
        return self._call("POST", "/v1/items", json=body)

    def promote(
        self,
        version: int,
        *,
        guard: str | None = None,
        alias: str = "champion",
        force: bool = False,
        check: bool = True,
    ) -> dict[str, Any]:
        """Promote through the guard; a refusal raises `ServiceError` (409) unless ``check``
        is False, which returns the refusal with the guard's values."""
        body = {"guard": guard, "alias": alias, "force": force}
        path = f"/v1/models/{int(version)}/promote"
        ok = (200,) if check else (200, 409)
        return self._call("POST", path, json=body, idempotent=False, ok=ok)

    def rollback(self, alias: str = "champion") -> dict[str, Any]:
        return self._call("POST", "/v1/models/rollback", json={"alias": alias}, idempotent=False)

    # ------------------------------------------------------------------ the retry loop
    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        json: Any = None,
        idempotent: bool = True,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        unsent = (httpx.ConnectError, httpx.ConnectTimeout)
        retryable = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            self.attempts += 1
            try:
                r = self._http.request(method, path, params=params, json=json)
            except unsent:
                if last:
                    raise
                self._sleep(attempt, None)
                continue
            except retryable:
                if last or not idempotent:
                    raise
                self._sleep(attempt, None)
                continue
            if r.status_code in ok:
                return r.json()
            if _retryable(r.status_code) and idempotent and not last:
                self._sleep(attempt, r.headers.get("retry-after"))
                continue
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ServiceError(r.status_code, detail, method, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        wait = min(self.max_backoff, self.backoff * 2**attempt)
        wait *= 0.5 + self._random.random()  # jitter: retries of many clients spread out
        if retry_after is not None:
            try:
                wait = max(wait, min(float(retry_after), self.max_backoff))
            except ValueError:
                pass
        time.sleep(wait)

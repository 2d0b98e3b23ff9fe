"""`rectune.client.Client` against a real server: retries reuse event ids, errors are typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from rectune.client import Client, ServiceError
from rectune.online import EventStore, Registry
from tests.serving.conftest import TOKEN, ThreadServer, events_of


class Faulty(httpx.BaseTransport):
    """Forwards to the real server; the first request to ``path`` fails as configured:
    ``lose`` sends it and then loses the answer (the server did the work), ``busy`` answers
    503 without sending it."""

    def __init__(self, path: str, fault: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.path, self.fault = path, fault
        self.bodies: list[Any] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        first = request.url.path == self.path and not self.bodies
        if request.url.path == self.path:
            self.bodies.append(json.loads(request.read() or b"null"))
        if first and self.fault == "busy":
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"})
        response = self.inner.handle_request(request)
        if first and self.fault == "lose":
            response.read()
            response.close()
            raise httpx.ReadError("connection reset after the commit", request=request)
        return response


@pytest.fixture()
def server(reg: Registry, token_file: Path) -> Any:
    with ThreadServer(reg, token_file=str(token_file)) as srv:
        yield srv


def test_a_lost_answer_is_retried_with_the_same_ids_and_stored_once(
    server: ThreadServer, arts: dict[str, Any]
) -> None:
    events = [{k: v for k, v in e.items() if k != "event_id"} for e in events_of(arts["test"])]
    transport = Faulty("/v1/events", "lose")
    with Client(server.url, TOKEN, transport=transport, backoff=0.01, rng=0) as client:
        out = client.send_events(events, batch_size=10_000)
    assert len(transport.bodies) == 2 and transport.bodies[0] == transport.bodies[1]
    assert out["accepted"] == 0 and out["duplicates"] == len(events)  # the first try stored them
    with EventStore(server.service.settings.store) as store:
        batch = store.read()
    assert batch.event_id.tolist() == out["event_ids"]  # each stored exactly once
    assert len(set(out["event_ids"])) == len(events)


def test_overload_is_retried_and_reads_answer(server: ThreadServer, arts: dict[str, Any]) -> None:
    transport = Faulty("/v1/recommend/1", "busy")
    with Client(server.url, transport=transport, backoff=0.01) as client:
        got = client.recommend(1, n=3)
        assert client.attempts == 2 and len(transport.bodies) == 2
        assert got["model_version"] == 1 and len(got["items"]) == 3
        assert client.recommend("a/b", n=2)["fallback"]  # a slash goes by the batch route
        assert client.similar(int(arts["train"].item_ids[0]), n=2)["items"]
        assert client.recommend_session([int(arts["train"].item_ids[0])], n=2)["items"]
        assert client.models()["aliases"] == {"champion": 1}
        assert client.ready()


def test_refusals_are_typed_and_not_retried(server: ThreadServer, arts: dict[str, Any]) -> None:
    with Client(server.url) as anonymous:  # no token
        with pytest.raises(ServiceError) as err:
            anonymous.send_events(events_of(arts["test"])[:2])
        assert err.value.status == 401 and anonymous.attempts == 1
    with Client(server.url, TOKEN) as client:
        client.send_events(events_of(arts["test"]))
        refused = client.promote(2, guard="rmse<=+0.01", check=False)
        assert not refused["accepted"] and refused["checks"][0]["metric"] == "rmse"
        with pytest.raises(ServiceError, match="409"):
            client.promote(2, guard="rmse<=+0.01")
        assert client.promote(2, force=True)["to_version"] == 2
        assert client.rollback()["to_version"] == 1


def test_a_promotion_whose_answer_is_lost_is_not_sent_twice(server: ThreadServer) -> None:
    transport = Faulty("/v1/models/2/promote", "lose")
    with Client(server.url, TOKEN, transport=transport, backoff=0.01) as client:
        with pytest.raises(httpx.ReadError):
            client.promote(2, force=True)
    assert len(transport.bodies) == 1
    assert Registry(server.service.settings.registry).aliases == {"champion": 2}

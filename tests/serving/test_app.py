"""The service's routes through FastAPI's TestClient: shapes, auth, limits, promotion, probes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rectune.errors import ConfigError, RegistryError
from rectune.online import EventStore, Registry
from rectune.serving import create_app
from tests.serving.conftest import TOKEN, events_of

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ITEM_KEYS = {"item_id", "score"}
REC_KEYS = {"user_id", "items", "model_version", "fallback"}


def _app(reg: Registry, token_file: Path | None, **settings: Any) -> Any:
    values = {"update": False, "poll_seconds": 0.05, **settings}
    if token_file is not None:
        values["token_file"] = str(token_file)
    return create_app(reg, settings=values)


@pytest.fixture()
def app(reg: Registry, token_file: Path) -> Any:
    return _app(reg, token_file, max_events=500, max_users=3)


@pytest.fixture()
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        assert app.state.service.holder.wait_loaded(10) is not None
        yield c


def _wait_version(client: TestClient, version: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").json().get("model_version") == version:
            return
        time.sleep(0.02)
    raise AssertionError(f"version {version} not served within {timeout} s")


def test_recommend_known_and_unknown_users(client: TestClient, arts: dict[str, Any]) -> None:
    train = arts["train"]
    user = int(train.user_ids[0])
    got = client.get(f"/v1/recommend/{user}", params={"n": 5}).json()
    assert set(got) == REC_KEYS and got["user_id"] == user and got["model_version"] == 1
    assert not got["fallback"] and len(got["items"]) == 5
    assert all(set(i) == ITEM_KEYS for i in got["items"])
    scores = [i["score"] for i in got["items"]]
    assert scores == sorted(scores, reverse=True)
    seen = set(train.item_ids[train.user_ids == user].tolist())
    assert not seen & {i["item_id"] for i in got["items"]}  # seen items are excluded
    cold = client.get("/v1/recommend/someone-new", params={"n": 5}).json()
    assert cold["fallback"] and cold["user_id"] == "someone-new"
    # Popularity answered: each score is the item's count of training events, the top first.
    counts = {int(i): int((train.item_ids == i).sum()) for i in set(train.item_ids.tolist())}
    assert [i["score"] for i in cold["items"]] == [counts[i["item_id"]] for i in cold["items"]]
    assert cold["items"][0]["score"] == max(counts.values())


def test_batch_and_session_recommendations(client: TestClient, arts: dict[str, Any]) -> None:
    train = arts["train"]
    users = [int(train.user_ids[0]), "nobody"]
    got = client.post("/v1/recommend", json={"users": users, "n": 3}).json()
    assert got["model_version"] == 1 and [r["user_id"] for r in got["results"]] == users
    assert [r["fallback"] for r in got["results"]] == [False, True]
    single = client.get(f"/v1/recommend/{users[0]}", params={"n": 3}).json()
    assert got["results"][0] == single  # a batch answers as the single route does
    session = [int(train.item_ids[0]), int(train.item_ids[1])]
    s = client.post("/v1/recommend", json={"session_items": session, "n": 4}).json()
    assert set(s) == REC_KEYS and s["user_id"] is None and not s["fallback"]
    assert len(s["items"]) == 4 and not set(session) & {i["item_id"] for i in s["items"]}
    # The session's answer is led by what is most similar to its latest item.
    near = client.get(f"/v1/similar/{session[-1]}", params={"n": 20}).json()["items"]
    assert s["items"][0]["item_id"] in {i["item_id"] for i in near}
    unknown = client.post("/v1/recommend", json={"session_items": ["zz"], "n": 2}).json()
    assert unknown["fallback"] and len(unknown["items"]) == 2
    both = client.post("/v1/recommend", json={"users": [1], "session_items": [1]})
    assert both.status_code == 422
    integral = client.post("/v1/recommend", json={"users": [float(users[0])], "n": 3.0})
    assert integral.json()["results"][0] == single  # 5.0 is the JSON integer 5
    over = client.post("/v1/recommend", json={"users": [1, 2, 3, 4]})
    assert over.status_code == 413 and "over 3" in over.json()["detail"]


def test_similar(client: TestClient, arts: dict[str, Any]) -> None:
    item = int(arts["train"].item_ids[0])
    got = client.get(f"/v1/similar/{item}", params={"n": 3}).json()
    assert set(got) == {"item_id", "items", "model_version"} and got["item_id"] == item
    assert len(got["items"]) == 3 and item not in {i["item_id"] for i in got["items"]}
    assert client.get("/v1/similar/123456789").status_code == 404
    assert client.get("/v1/similar/not-an-int").status_code == 404


@pytest.mark.parametrize("n", ["0", "-1", str(10**9), "x"])
def test_bad_n_and_ids_are_422(client: TestClient, n: str) -> None:
    assert client.get("/v1/recommend/1", params={"n": n}).status_code == 422
    assert client.get("/v1/recommend/" + "u" * 10_000).status_code == 422
    assert client.delete("/v1/recommend/1").status_code == 405


def test_events_need_the_token_and_are_idempotent(
    client: TestClient, arts: dict[str, Any], reg: Registry
) -> None:
    events = events_of(arts["test"])[:50]
    assert client.post("/v1/events", json={"events": events}).status_code == 401
    bad = client.post("/v1/events", json={"events": events}, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 403
    malformed = client.post("/v1/events", json={"events": events}, headers={"Authorization": "x"})
    assert malformed.status_code == 401
    first = client.post("/v1/events", json={"events": events}, headers=AUTH).json()
    assert first == {"accepted": 50, "duplicates": 0, "last_seq": 50}
    again = client.post("/v1/events", json={"events": events[40:]}, headers=AUTH).json()
    assert again == {"accepted": 0, "duplicates": 10, "last_seq": 50}
    with EventStore(client.app.state.service.settings.store) as store:  # type: ignore[attr-defined]
        batch = store.read()
    assert batch.event_id.tolist() == [e["event_id"] for e in events]


def test_bad_events_are_422_naming_row_and_field(client: TestClient) -> None:
    good = {"event_id": "a", "user_id": 1, "item_id": 2, "value": 4.0, "timestamp": 1}
    bad = {**good, "event_id": "b", "timestamp": 10**15}  # milliseconds: outside the range
    r = client.post("/v1/events", json={"events": [good, bad]}, headers=AUTH)
    # FastAPI's validation-error shape, ``loc`` naming the row and the field.
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"][:4] == ["body", "events", 1, "timestamp"]
    for wrong in ({"user_id": True}, {"value": False}, {"value": "4"}, {"user_id": 2**60}):
        event = {**good, **wrong}  # strict: a boolean is no id or number; big ints as strings
        assert client.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 422
    r = client.post("/v1/events", json={"events": [good] * 501}, headers=AUTH)
    assert r.status_code == 413 and "over 500" in r.json()["detail"]
    r = client.post("/v1/events", json={"events": [{**good, "user_id": "u\x00"}]}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:4] == ["body", "events", 0, "user_id"]
    with EventStore(client.app.state.service.settings.store) as store:  # type: ignore[attr-defined]
        assert store.count()["events"] == 0  # nothing of a refused batch is stored
    assert client.post("/v1/events", json={"events": [good]}, headers=AUTH).status_code == 200
    other = {**good, "event_id": "c", "user_id": "u7"}  # the store's user ids are integers now
    r = client.post("/v1/events", json={"events": [other]}, headers=AUTH)
    assert r.status_code == 409 and r.json()["detail"][0]["loc"] == ["body", "events", 0, "user_id"]
    canonical = {**good, "event_id": "d", "user_id": str(2**60)}  # a big integer as a string
    assert (
        client.post("/v1/events", json={"events": [canonical]}, headers=AUTH).json()["accepted"]
        == 1
    )


def test_items(client: TestClient) -> None:
    body = {"items": [{"item_id": 9001, "text": "a new film", "features": {"year": 2024}}]}
    assert client.post("/v1/items", json=body).status_code == 401
    assert client.post("/v1/items", json=body, headers=AUTH).json()["accepted"] == 1
    assert client.post("/v1/items", json=body, headers=AUTH).json()["duplicates"] == 1


def test_promote_through_the_guard_force_and_rollback(
    client: TestClient, arts: dict[str, Any], reg: Registry
) -> None:
    r = client.post("/v1/models/2/promote", json={}, headers=AUTH)
    assert r.status_code == 409 and "no held-out events" in r.json()["detail"]
    client.post("/v1/events", json={"events": events_of(arts["test"])}, headers=AUTH)
    assert client.post("/v1/models/2/promote", json={}).status_code == 401
    r = client.post("/v1/models/2/promote", json={"guard": "rmse<=+0.01"}, headers=AUTH)
    refused = r.json()
    assert r.status_code == 409 and not refused["accepted"] and refused["action"] == "refuse"
    check = refused["checks"][0]
    assert check["metric"] == "rmse" and check["candidate"] > check["current"] + 0.1
    assert refused["held_out_events"] == len(arts["test"])
    assert client.get("/readyz").json()["model_version"] == 1
    r = client.post("/v1/models/2/promote", json={"force": True}, headers=AUTH)
    assert r.status_code == 200 and r.json()["accepted"]
    # This process swapped before answering: the very next request names version 2.
    assert client.get("/v1/recommend/1").json()["model_version"] == 2
    assert Registry(reg.root).aliases == {"champion": 2}
    r = client.post("/v1/models/rollback", headers=AUTH)
    assert r.status_code == 200 and r.json()["to_version"] == 1
    assert client.get("/v1/recommend/1").json()["model_version"] == 1
    r = client.post("/v1/models/rollback", headers=AUTH)
    assert r.status_code == 409 and "no previous target" in r.json()["detail"]
    assert client.post("/v1/models/7/promote", headers=AUTH).status_code == 404
    for guard in ("rmse>=1", "", "RMSE<=0", "rmse<=1e999", "coverage@10>=0"):
        r = client.post("/v1/models/2/promote", json={"guard": guard}, headers=AUTH)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "guard"]
    r = client.post("/v1/models/2/promote", json={"alias": "9x"}, headers=AUTH)
    assert r.status_code == 422
    models = client.get("/v1/models").json()
    assert models["aliases"] == {"champion": 1}
    assert [v["version"] for v in models["versions"]] == [1, 2]
    assert models["serving"]["version"] == 1 and models["updater"] is None


def test_follows_a_promotion_made_by_another_process(client: TestClient, reg: Registry) -> None:
    Registry(reg.root).promote(2, force=True)  # another Registry object: as another process
    _wait_version(client, 2)
    assert client.get("/v1/recommend/1").json()["model_version"] == 2


def test_readyz_before_load_and_while_draining(app: Any, reg: Registry) -> None:
    bare = TestClient(app)  # no lifespan: nothing started, nothing loaded
    r = bare.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "loading"
    assert bare.get("/livez").json() == {"status": "alive"}
    assert bare.get("/v1/recommend/1").status_code == 503
    with TestClient(app) as c:
        app.state.service.holder.wait_loaded(10)
        assert c.get("/readyz").status_code == 200
        app.state.service.draining = True
        assert c.get("/readyz").json() == {"status": "draining"}
        assert c.get("/readyz").status_code == 503


def test_a_champion_that_does_not_verify_is_never_served(reg: Registry, token_file: Path) -> None:
    params = reg.resolve(1).path / "params.npz"
    params.write_bytes(params.read_bytes()[:-7] + b"garbage")
    app = _app(reg, token_file)
    with TestClient(app) as c:
        deadline = time.monotonic() + 5
        while app.state.service.holder.load_error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        r = c.get("/readyz")
        assert r.status_code == 503 and "checksum" in r.json()["detail"].lower()
        assert c.get("/v1/recommend/1").status_code == 503
        Registry(reg.root).promote(2, force=True)  # a good version: served once it is in
        _wait_version(c, 2)


def test_metrics(client: TestClient, arts: dict[str, Any]) -> None:
    client.get("/v1/recommend/1")
    client.get("/v1/recommend/2")
    client.post("/v1/events", json={"events": events_of(arts["test"])[:30]}, headers=AUTH)
    text = client.get("/metrics").text
    count = 'rectune_request_duration_seconds_count{method="GET",route="/v1/recommend/{user_id}"}'
    assert f"{count} 2.0" in text
    assert "rectune_events_ingested_total 30.0" in text
    assert 'rectune_model_version{alias="champion"} 1.0' in text
    assert "rectune_updater_lag_events 30.0" in text and "rectune_store_last_seq 30.0" in text


def test_openapi_declares_the_routes_and_bearer_auth(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    routes = ["/v1/recommend/{user_id}", "/v1/recommend", "/v1/similar/{item_id}", "/v1/events"]
    routes += ["/v1/items", "/v1/models", "/v1/models/{version}/promote", "/v1/models/rollback"]
    for path in [*routes, "/livez", "/readyz", "/metrics"]:
        assert path in paths, path
    assert paths["/v1/events"]["post"]["security"] == [{"token": []}]
    # Every bound the server enforces is stated, so a fuzzer's "valid" input is valid.
    schemas = spec["components"]["schemas"]
    as_int, as_str = schemas["Event"]["properties"]["user_id"]["anyOf"]
    assert as_int["maximum"] == 2**53 and as_str["pattern"] and as_str["maxLength"] == 256
    assert schemas["SessionRequest"]["properties"]["n"]["minimum"] == 1
    assert schemas["PromoteRequest"]["properties"]["guard"]["anyOf"][0]["pattern"]
    assert "security" not in paths["/v1/recommend/{user_id}"]["get"]


def test_without_a_token_writes_are_open_and_not_declared(
    reg: Registry, arts: dict[str, Any]
) -> None:
    with TestClient(_app(reg, None)) as c:
        r = c.post("/v1/events", json={"events": events_of(arts["test"])[:3]})
        assert r.status_code == 200 and r.json()["accepted"] == 3
        assert "security" not in c.get("/openapi.json").json()["paths"]["/v1/events"]["post"]


def test_bad_settings_fail_at_creation(reg: Registry, tmp_path: Path) -> None:
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        _app(reg, empty)
    with pytest.raises(ConfigError, match="max_in_flight"):
        _app(reg, None, max_in_flight=0)
    with pytest.raises(RegistryError, match="not a registry"):
        create_app(tmp_path, settings={"update": False})


def test_fuzzing_finds_regressions(client: TestClient) -> None:
    """Bodies schemathesis found: lone surrogates (UTF-8 cannot encode them, not even in the
    error echoing them) are 422; a guard on the version the alias is on is a no-op, not 422."""
    raw = {"content-type": "application/json", **AUTH}
    for path, body in (
        ("/v1/events", rb'{"events": [{"user_id": "\udc00x", "item_id": 1}]}'),
        ("/v1/items", rb'{"items": [{"item_id": 5, "text": "\ud800"}]}'),
        ("/v1/recommend", rb'{"users": ["\udc00"]}'),
    ):
        r = client.post(path, content=body, headers=raw)
        assert r.status_code == 422, (path, r.text)
        assert any(w in r.text.lower() for w in ("surrogate", "unicode")), r.text
    r = client.post("/v1/models/1/promote", json={"guard": "rmse<=+0.1"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["from_version"] == r.json()["to_version"] == 1

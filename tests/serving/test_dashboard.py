"""The dashboard through FastAPI's TestClient: its page and assets, and its JSON routes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rectune.cli.main import app as cli
from rectune.errors import DataError
from rectune.online import Registry
from rectune.serving import create_app
from rectune.serving.titles import TitleBook, load_titles, title_of
from tests.serving.conftest import TOKEN, events_of

AUTH = {"Authorization": f"Bearer {TOKEN}"}
GENRES = 19


def write_ml100k(folder: Path, titles: dict[int, str]) -> Path:
    """A tiny dataset in MovieLens 100K's layout (``u.data`` and ``u.item``)."""
    folder.mkdir(parents=True)
    ids = list(titles)
    rows = [f"{u}\t{i}\t{1 + (u + k) % 5}\t{880000000 + k}" for u in range(1, 6)
            for k, i in enumerate(ids)]  # fmt: skip
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    flags = "|".join(["0"] * (GENRES - 1) + ["1"])
    items = [f"{i}|{t}|01-Jan-1995||http://x|{flags}" for i, t in titles.items()]
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    return folder


@pytest.fixture()
def client(reg: Registry, token_file: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The app over the two-version registry, without updater; its sampler samples only when
    a test asks it to (one sample at start, then every 60 s)."""
    data = write_ml100k(tmp_path / "titles", {1001: "Alpha (1995)", 1002: "Beta (1996)"})
    settings = {"update": False, "poll_seconds": 0.05, "token_file": str(token_file)}
    app = create_app(reg, settings={**settings, "sample_seconds": 60.0, "data": str(data)})
    with TestClient(app) as c:
        service = app.state.service
        assert service.holder.wait_loaded(10) is not None
        deadline = time.monotonic() + 5
        while not service.sampler.samples and time.monotonic() < deadline:
            time.sleep(0.01)
        yield c


def test_the_page_and_its_assets_load_nothing_from_outside(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    refs = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert refs and all(r.startswith(("/", "data:")) and not r.startswith("//") for r in refs)
    for ref, media in (
        ("/dashboard/dashboard.js", "javascript"),
        ("/dashboard/dashboard.css", "css"),
    ):
        r = client.get(ref)
        assert r.status_code == 200 and media in r.headers["content-type"], ref
        # The SVG namespace is the only absolute URL, and a namespace is never fetched.
        urls = set(re.findall(r"https?://[^\s\"'`)]+", r.text))
        assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert client.get("/dashboard/other.js").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_versions_show_promotions_refusals_and_rollbacks(
    client: TestClient, arts: dict[str, Any]
) -> None:
    client.post("/v1/events", json={"events": events_of(arts["test"])}, headers=AUTH)
    r = client.post("/v1/models/2/promote", json={"guard": "rmse<=+0.01"}, headers=AUTH)
    assert r.status_code == 409
    assert client.post("/v1/models/2/promote", json={"force": True}, headers=AUTH).is_success
    assert client.post("/v1/models/rollback", headers=AUTH).is_success
    body = client.get("/v1/dashboard/versions").json()
    assert [a["action"] for a in body["audit"]] == ["promote", "refuse", "promote", "rollback"]
    init, refused, forced, back = body["audit"]
    assert init["to_version"] == 1 and init["from_version"] is None
    check = refused["checks"][0]
    assert check["metric"] == "rmse" and not check["passed"]
    assert check["candidate"] > check["current"] + 0.1  # both values, the poor model's worse
    assert forced["forced"] and (back["from_version"], back["to_version"]) == (2, 1)
    rows = {v["version"]: v for v in body["versions"]}
    assert rows[1]["aliases"] == ["champion"] and rows[2]["parent"] == 1
    assert rows[2]["guard"]["action"] == "promote" and rows[2]["guard"]["forced"]
    assert body["aliases"] == {"champion": 1} and body["history"] == {"champion": []}
    assert body["serving"]["version"] == 1 and body["updater"] is None


def test_series_samples_ingest_rate_lag_and_latency(
    client: TestClient, arts: dict[str, Any]
) -> None:
    sampler = client.app.state.service.sampler  # type: ignore[attr-defined]
    t0 = time.time() + 1
    first = sampler.sample(now=t0)
    client.post("/v1/events", json={"events": events_of(arts["test"])[:30]}, headers=AUTH)
    for _ in range(5):
        assert client.get("/v1/recommend/1").is_success
    client.get("/v1/dashboard/versions")  # the dashboard's own polling is not charted
    second = sampler.sample(now=t0 + 2)
    assert second.last_seq - first.last_seq == 30 and second.rate == pytest.approx(15.0)
    assert second.lag == 30 and second.version == 1  # no updater: nothing consumed
    assert second.events_total - first.events_total == 30
    assert set(second.latency) == {"/v1/events", "/v1/recommend/{user_id}"}
    rec = second.latency["/v1/recommend/{user_id}"]
    assert rec["n"] == 5 and 0 < rec["p50"] <= rec["p99"] < 5000
    body = client.get("/v1/dashboard/series").json()
    assert body["interval"] == 60.0
    assert [s["t"] for s in body["samples"][-2:]] == [t0, t0 + 2]
    assert body["samples"][-1]["rate"] == pytest.approx(15.0)
    table = body["latency"]["/v1/recommend/{user_id}"]
    assert table["n"] == 5 and table["rps"] > 0
    recent = client.get("/v1/dashboard/series", params={"seconds": 1}).json()["samples"]
    assert [s["t"] for s in recent] == [t0 + 2]
    for bad in ("0", "-1", "1e9", "x"):
        assert client.get("/v1/dashboard/series", params={"seconds": bad}).status_code == 422


def test_user_panel_recent_learned_recommended_with_titles(
    client: TestClient, arts: dict[str, Any]
) -> None:
    train = arts["train"]
    user = int(train.user_ids[0])
    events = [
        {"event_id": f"u{k}", "user_id": user, "item_id": item, "value": 4.0 + k / 10,
         "timestamp": 1_700_000_000 + k}
        for k, item in enumerate([1001, 1002, 1003])
    ]  # fmt: skip
    client.post("/v1/events", json={"events": events}, headers=AUTH)
    client.post("/v1/items", json={"items": [{"item_id": 1003, "text": "Gamma | Drama"}]},
                headers=AUTH)  # fmt: skip
    body = client.get(f"/v1/dashboard/user/{user}", params={"n": 5, "recent": 2}).json()
    assert body["user_id"] == user and body["known"] and not body["fallback"]
    assert [r["item_id"] for r in body["recent"]] == [1003, 1002]  # newest first, 2 of 3
    assert [r["title"] for r in body["recent"]] == ["Gamma", "Beta (1996)"]
    assert body["recent"][0]["value"] == pytest.approx(4.2)
    mine = train.user_ids == user
    assert body["seen_count"] == int(mine.sum())
    values = [r["value"] for r in body["seen"]]
    assert len(values) == 2 and values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(float(train.values[mine].max()))
    recs = body["recommendations"]
    direct = client.get(f"/v1/recommend/{user}", params={"n": 5}).json()["items"]
    assert [r["item_id"] for r in recs] == [r["item_id"] for r in direct]
    assert not {r["item_id"] for r in recs} & set(train.item_ids[mine].tolist())
    assert body["model_version"] == 1 and body["titles"]


def test_user_panel_of_an_unknown_user_and_bad_input(client: TestClient) -> None:
    body = client.get("/v1/dashboard/user/424242").json()
    assert not body["known"] and body["fallback"] and body["recent"] == body["seen"] == []
    assert len(body["recommendations"]) == 10 and body["seen_count"] == 0
    weird = client.get("/v1/dashboard/user/%01x").json()  # a control byte: simply unknown
    assert weird["fallback"] and weird["user_id"] == "\x01x"
    for params in ({"n": 0}, {"n": 10**9}, {"recent": -1}, {"recent": 101}):
        assert client.get("/v1/dashboard/user/1", params=params).status_code == 422
    assert client.get("/v1/dashboard/user/" + "9" * 300).status_code == 422
    assert client.post("/v1/dashboard/versions").status_code == 405


def test_titles_from_data_and_posted_records(tmp_path: Path) -> None:
    assert title_of("Toy Story (1995) | Animation, Comedy") == "Toy Story (1995)"
    assert title_of("first line\nsecond") == "first line"
    assert title_of("  ") is None and title_of(None) is None and title_of(float("nan")) is None
    assert len(title_of("x" * 500) or "") == 120
    data = write_ml100k(tmp_path / "d", {7: "Seven (1995)", 8: "Eight (1996)"})
    book = TitleBook(load_titles(data))
    assert book.get(7) == "Seven (1995)" and book.get("8") == "Eight (1996)" and len(book) == 2
    import pandas as pd

    records = pd.DataFrame({"seq": [3, 5], "item_id": [7, 9], "text": ["New Seven", None]})
    book.refresh(lambda fn: records)
    assert book.get(7) == "New Seven" and book.get(9) is None and len(book) == 2
    seen = []
    book.refresh(lambda fn: seen.append(fn) or records.iloc[:0])
    assert seen  # asked the store again, for the records after seq 5 only
    no_text = tmp_path / "plain"
    no_text.mkdir()
    (no_text / "ratings.csv").write_text("user_id,item_id,rating\n1,2,3\n")
    with pytest.raises(DataError, match="no item text"):
        load_titles(no_text)


def test_serve_with_bad_data_exits_2_in_one_line(reg: Registry, tmp_path: Path) -> None:
    args = ["serve", "--registry", str(reg.root), "--no-update", "--data"]
    for target in (str(tmp_path / "missing"), str(_plain(tmp_path))):
        result = CliRunner().invoke(cli, [*args, target])
        assert result.exit_code == 2, result.output
        assert "--data" in result.output
        assert result.output.count("\n") == 1


def _plain(tmp_path: Path) -> Path:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "ratings.csv").write_text("user_id,item_id,rating\n1,2,3\n")
    return folder


def test_seen_rows_follow_partial_fit(arts: dict[str, Any], reg: Registry) -> None:
    """The learned-items list reads the served model's seen matrix: a new version that
    learned more events for the user lists them (checked on the model directly)."""
    from rectune.serving.dashboard import learned_items
    from rectune.serving.state import Live

    model = reg.load(1)
    user = int(arts["train"].user_ids[0])
    before, n0 = learned_items(Live(model, 1, "champion", 0, 0.0), user, 100)
    unseen = np.setdiff1d(model.item_map_.ids, [r["item_id"] for r in before])[:2]
    from rectune.data import Interactions

    model.partial_fit(Interactions.from_raw([user, user], unseen, [5.0, 5.0]))
    after, n1 = learned_items(Live(model, 2, "champion", 0, 0.0), user, 100)
    assert n1 == n0 + 2 and set(unseen.tolist()) <= {r["item_id"] for r in after}

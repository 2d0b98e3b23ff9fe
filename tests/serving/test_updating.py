"""The updater beside the service: events posted over HTTP become a promoted, served version;
of two services on one registry, one updates and the other follows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from rectune.online import Registry
from tests.serving.conftest import TOKEN, ThreadServer, events_of

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _until(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def test_posted_events_become_a_served_version(
    reg: Registry, token_file: Path, arts: dict[str, Any]
) -> None:
    settings = {"token_file": str(token_file), "update": True, "poll_seconds": 0.1}
    settings |= {"every_events": 100, "every_seconds": 0.5}
    with ThreadServer(reg, **settings) as srv:
        events = events_of(arts["test"])
        r = httpx.post(srv.url + "/v1/events", json={"events": events}, headers=AUTH)
        assert r.json()["accepted"] == len(events)

        def cycled() -> Any:
            up = httpx.get(srv.url + "/v1/models").json()["updater"]
            return up if up.get("cycles") else None

        status = _until(cycled)
        assert status["state"] == "updating" and status["error"] is None
        cycle = status["last_cycle"]
        assert cycle["first_seq"] == 1 and cycle["version"] == 3  # v2 is the unaliased poor one
        assert cycle["promoted"], cycle["reason"]
        _until(lambda: httpx.get(srv.url + "/readyz").json().get("model_version") == 3)
        got = httpx.get(srv.url + "/v1/recommend/1").json()
        assert got["model_version"] == 3
        text = httpx.get(srv.url + "/metrics").text
        lag = [ln for ln in text.splitlines() if ln.startswith("rectune_updater_lag_events ")]
        assert lag and float(lag[0].split()[1]) < len(events)  # the version consumed most


def test_of_two_services_on_one_registry_one_updates(reg: Registry, token_file: Path) -> None:
    settings = {"token_file": str(token_file), "update": True, "every_seconds": 0.2}
    with ThreadServer(reg, **settings) as a, ThreadServer(reg, **settings) as b:
        states = _until(
            lambda: (
                sorted(s.service.updater.state for s in (a, b))
                if {s.service.updater.state for s in (a, b)} == {"updating", "following"}
                else None
            ),
            10,
        )
        assert states == ["following", "updating"]

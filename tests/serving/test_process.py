"""``rectune serve`` as a process: its flags, refusals, and draining on SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.online import EventStore, Registry
from tests.serving.conftest import TOKEN, events_of, kill_tree, start_process
from tests.serving.test_live import _post_head, _raw, _status


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--host", "0.0.0.0", "--no-update"], "binds loopback only"),
        (["--token-file", "/nonexistent/token", "--no-update"], "token file"),
        (["--store", "mysql://x", "--no-update"], "store URL"),
    ],
)
def test_refusals_are_one_line_and_exit_2(reg: Registry, extra: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--registry", str(reg.root), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1


def test_not_a_registry_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--registry", str(tmp_path), "--no-update"])
    assert result.exit_code == 2 and "not a registry" in result.output


def test_sigterm_lets_the_request_in_flight_finish(
    reg: Registry, token_file: Path, arts: dict[str, Any]
) -> None:
    proc, url = start_process(
        "--registry", str(reg.root), "--token-file", str(token_file), "--no-update"
    )
    try:
        port = int(url.rsplit(":", 1)[1])
        events = events_of(arts["test"])[:20]
        body = httpx.Request("POST", "/", json={"events": events}).content
        s = _raw(port, _post_head("/v1/events", "Transfer-Encoding: chunked\r\n"))
        s.sendall(b"%x\r\n%s\r\n" % (10, body[:10]))  # half a body: the request is in flight
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):  # draining: no new connection is taken
            httpx.get(url + "/livez", timeout=1.0)
        assert proc.poll() is None  # still up: it waits for the request in flight
        rest = body[10:]
        s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
        assert _status(s) == 200
        s.close()
        # uvicorn re-raises the signal once drained, so the process ends by SIGTERM.
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
        assert time.monotonic() - t0 < 10
    finally:
        kill_tree(proc)  # the whole group, even when the master has exited
    with EventStore(f"sqlite:///{reg.root / 'events.db'}") as store:
        assert store.read().event_id.tolist() == [e["event_id"] for e in events]
    assert TOKEN not in (proc.stdout.read() + proc.stderr.read())  # type: ignore[union-attr]


def _read(url: str) -> httpx.Response:
    """GET ``url``, again after a shed read (503/429 while the loaded machine lags)."""
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(url, timeout=5)
        if r.status_code not in (429, 503) or time.monotonic() > deadline:
            assert r.status_code == 200, (r.status_code, r.text)
            return r
        time.sleep(0.2)


def _samples(text: str) -> dict[str, float]:
    """``name{labels} -> value`` of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_two_workers_share_the_store_and_one_updater(
    reg: Registry, token_file: Path, arts: dict[str, Any]
) -> None:
    """``--workers 2``: both processes answer, every event is stored once whichever worker
    took it, one updater (the registry's lock) folds them in, and SIGTERM stops them all."""
    from concurrent.futures import ThreadPoolExecutor

    from rectune.testing.updater_crash import check_lineage

    proc, url = start_process(
        "--registry", str(reg.root), "--token-file", str(token_file), "--workers", "2",
        "--every-events", "100", "--every-seconds", "0.5",
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {TOKEN}"}
    events = events_of(arts["test"])[:400]
    batches = [events[k : k + 50] for k in range(0, len(events), 50)]
    try:
        pids: set[str] = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:  # fresh connections spread out
            text = _read(url + "/metrics").text
            pids |= {
                ln.split('"')[1] for ln in text.splitlines() if ln.startswith("rectune_worker{")
            }
        assert len(pids) == 2, pids

        def post(batch: list[dict[str, Any]]) -> dict[str, Any]:
            r = httpx.post(url + "/v1/events", json={"events": batch}, headers=auth, timeout=30)
            assert r.status_code == 200, r.text
            return r.json()

        with ThreadPoolExecutor(4) as pool:
            first = list(pool.map(post, batches))
            again = list(pool.map(post, batches))  # retries: every one a duplicate
        assert sum(r["accepted"] for r in first) == len(events)
        assert sum(r["duplicates"] for r in again) == len(events)
        # /metrics answers for the service, whichever worker takes the scrape
        answered: set[str] = set()
        deadline = time.monotonic() + 30
        while len(answered) < 2 and time.monotonic() < deadline:
            samples = _samples(_read(url + "/metrics").text)
            answered |= {k.split('"')[1] for k in samples if k.startswith("rectune_worker{")}
            assert samples["rectune_events_ingested_total"] == len(events), samples
            assert samples["rectune_events_duplicate_total"] == len(events), samples
            posts = 'rectune_requests_total{method="POST",route="/v1/events",status="200"}'
            assert samples[posts] == 2 * len(batches), samples
        assert len(answered) == 2, answered
        states: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = _read(url + "/v1/models").json()
            states.add(body["updater"].get("state"))
            if len(body["versions"]) > 2 and {"updating", "following"} <= states:
                break
            time.sleep(0.2)
        # one worker's child holds the updater lock, the other's only follows; its cycles
        # made candidates (promoted or refused by the guard: either way a new version)
        assert {"updating", "following"} <= states, (states, body)
        assert len(body["versions"]) > 2, body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        kill_tree(proc)  # the whole group, even when the master has exited
    with EventStore(f"sqlite:///{reg.root / 'events.db'}") as store:
        stored = store.read().event_id.tolist()
    assert sorted(stored) == sorted(e["event_id"] for e in events)
    again_reg = Registry(reg.root)
    assert check_lineage(again_reg) == []
    assert any(v.get("events") for v in again_reg.list()), "no version consumed the events"

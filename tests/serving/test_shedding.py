"""Load the service cannot take: reads shed on a standing queue, writes kept; the hot answers
on the event loop or in a thread; the updater in a child process at a lower priority."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from rectune.online import Registry
from rectune.serving.routes_read import INLINE_SECONDS, compute
from rectune.serving.shedding import LoopLag
from tests.serving.conftest import TOKEN, ThreadServer, events_of

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_a_pause_is_no_queue_and_a_standing_queue_sheds_until_it_drains() -> None:
    lag, t = LoopLag(0.020), 0.0
    for _ in range(40):
        t += 0.005
        lag.record(t, 0.001)
    t += 0.2
    lag.record(t, 0.2)  # one long pause (a collection, a swap): nothing is shed
    assert lag.admit == 1.0 and not lag.refuse()
    for _ in range(5):
        t += 0.04
        lag.record(t, 0.04)  # 40 ms late for longer than the 100 ms window: shed
    assert lag.admit < 0.2
    refused = sum(lag.refuse() for _ in range(1000))
    assert 800 < refused < 1000
    steps = 0
    while lag.admit < 1.0:  # the queue drained: the admitted fraction climbs back
        t += 0.005
        lag.record(t, 0.001)
        steps += 1
    assert 10 < steps < 100 and not lag.refuse()


def test_reads_are_shed_fast_on_a_standing_queue_and_writes_go_on(
    reg: Registry, token_file: Path, arts: dict[str, Any]
) -> None:
    with ThreadServer(reg, token_file=str(token_file)) as srv:
        loop = srv.app.loop_lag.loop
        stop = threading.Event()

        def block() -> None:  # the loop busy 30 ms out of every 31: a standing queue
            while not stop.is_set():
                loop.call_soon_threadsafe(time.sleep, 0.03)
                time.sleep(0.031)

        blocker = threading.Thread(target=block, daemon=True)
        blocker.start()
        try:
            time.sleep(0.5)
            with httpx.Client(base_url=srv.url, timeout=5) as c:
                got = [c.get("/v1/recommend/1") for _ in range(30)]
                shed = [r for r in got if r.status_code == 503]
                assert len(shed) > 15, [r.status_code for r in got]
                assert {r.status_code for r in got} <= {200, 503}
                assert shed[0].headers["retry-after"] == "1"
                assert "overloaded" in shed[0].json()["detail"]
                events = events_of(arts["test"])[:10]
                r = c.post("/v1/events", json={"events": events}, headers=AUTH)
                assert r.status_code == 200 and r.json()["accepted"] == 10  # writes go on
                assert c.get("/readyz").status_code == 200  # probes are never shed
        finally:
            stop.set()
            blocker.join()
        time.sleep(0.5)
        assert httpx.get(srv.url + "/v1/recommend/1").status_code == 200
        text = httpx.get(srv.url + "/metrics").text
        assert 'rectune_rejected_total{reason="queue"}' in text
        assert "rectune_event_loop_lag_seconds" in text


def test_cheap_answers_run_on_the_loop_and_dear_ones_in_a_thread() -> None:
    class Live:
        def __init__(self, seconds: float) -> None:
            self.answer_seconds = seconds

    async def where(seconds: float) -> bool:
        here = threading.get_ident()
        return await compute(Live(seconds), lambda: threading.get_ident() == here)  # type: ignore[arg-type]

    assert anyio.run(where, 0.0)
    assert not anyio.run(where, INLINE_SECONDS * 10)


def test_the_updater_is_a_child_at_a_lower_priority(reg: Registry, token_file: Path) -> None:
    settings = {"token_file": str(token_file), "update": True, "updater_nice": 7}
    with ThreadServer(reg, **settings) as srv:
        updater = srv.service.updater
        pid = updater.pid
        assert pid is not None and pid != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + 7
        deadline = time.monotonic() + 20
        while updater.state == "starting" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert updater.state == "updating"
    assert updater.pid is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()

"""The dashboard in a real headless browser (Debian's Chromium) against ``rectune serve``.

A small SVD is trained on the first 97,000 ML-100K ratings (by time) and served as a real
process on 127.0.0.1; the last 3,000 ratings are streamed in over HTTP while the updater
promotes (and refuses) new versions. Chromium then loads the page with ``?user=ID`` and dumps
the DOM after its JavaScript ran: the charts must hold data (SVG paths with points), the
versions table one row per version, and the user panel the user's newest events and their
recommendations with the titles of ``u.item``. A screenshot is taken too; with
``RECTUNE_DASHBOARD_SCREENSHOT=PATH`` it is kept there (``docs/dashboard.png`` comes from it).

Skips without the data or without Chromium, except under ``CI=true``, where both must be
there (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from rectune.data import default_data_dir, load
from rectune.online import Registry
from rectune.serving.titles import title_of
from tests.serving.conftest import kill_tree, start_process

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
STREAM = 3000
WINDOW = (1400, 2000)


def _need(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the dashboard's browser test must run in CI: {what}")
    pytest.skip(what)


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    _need("Chromium not found (apt-get install -y chromium; .ci/run installs it)")
    raise AssertionError  # unreachable: _need skips or fails


class Dom(HTMLParser):
    """What the test reads from the dumped DOM: chart paths, table rows, texts by id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.paths: dict[str, int] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.text: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.attrs[a["id"]] = a
        if tag == "path" and "data-series" in a:
            self.paths[a["data-series"]] = int(a["data-points"])
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        if tag not in ("path", "circle", "line", "rect", "input", "meta", "link", "br"):
            self._open.append((tag, a.get("id")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:  # header rows have no td
                self.rows.setdefault(self._table, []).append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, ident in self._open:
            if ident is not None:
                self.text[ident] = self.text.get(ident, "") + data


def run_browser(exe: str, url: str, profile: Path, *extra: str) -> str:
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
           "--virtual-time-budget=5000", *extra, url]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _wait_cycle(c: httpx.Client, through: int, timeout: float = 30.0) -> None:
    """Wait until an updater cycle has looked at the events through sequence ``through``
    (learned or held out), so that the stream makes a version per step on a slow machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get("/v1/models")
        if r.status_code == 200:
            cycle = (r.json()["updater"] or {}).get("last_cycle") or {}
            if cycle.get("last_seq", 0) + cycle.get("holdout", 0) >= through:
                return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``rectune serve`` over an ML-100K SVD with 3,000 streamed events folded in."""
    root = default_data_dir()
    if root is None or not (root / "ml-100k").is_dir():
        _need("ml-100k not found (set RECTUNE_DATA_DIR or provide ../shared/data)")
    assert root is not None
    exe = chromium()
    from rectune.models.mf import SVD
    from rectune.training import TrainConfig

    tmp = tmp_path_factory.mktemp("dashboard")
    data = load(root / "ml-100k")
    order = np.argsort(data.timestamps, kind="stable")
    train = data.subset(np.sort(order[:-STREAM]))
    SVD(embedding_size=16, epochs=10, learning_rate=0.01, reg=0.05).fit(
        train, train=TrainConfig(seed=0)
    ).save(tmp / "svd")
    reg = Registry.init(tmp / "reg", tmp / "svd")
    args = ["--registry", str(reg.root), "--every-events", "500", "--every-seconds", "1"]
    proc, url = start_process(*args, "--data", str(root / "ml-100k"))
    stream = order[-STREAM:]
    events = [
        {"event_id": f"s{k}", "user_id": int(data.user_ids[i]), "item_id": int(data.item_ids[i]),
         "value": float(data.values[i]), "timestamp": int(data.timestamps[i])}
        for k, i in enumerate(stream)
    ]  # fmt: skip
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            for k in range(0, STREAM, 300):
                assert c.post("/v1/events", json={"events": events[k : k + 300]}).is_success
                for e in events[k : k + 20]:
                    assert c.get(f"/v1/recommend/{e['user_id']}").is_success
                if (k + 300) % 600 == 0:  # one cycle per 600 events, however loaded the machine
                    _wait_cycle(c, k + 300)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                models = c.get("/v1/models").json()
                cycle = (models["updater"] or {}).get("last_cycle") or {}
                looked = cycle.get("last_seq", 0) + cycle.get("holdout", 0)  # learned + held out
                if len(models["versions"]) >= 4 and looked >= STREAM:
                    break  # every event went through a cycle (a refusal waits for new ones)
                time.sleep(0.5)
            else:
                raise AssertionError(f"the updater made too few versions: {models}")
            # The live series sample once a second: wait until the ingest rate and the lag
            # have the points the page must draw (a loaded machine may sample late).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                samples = c.get("/v1/dashboard/series").json()["samples"]
                rates = [x for x in samples if x["rate"] is not None]
                lags = [x for x in samples if x["lag"] is not None]
                if len(rates) >= 6 and len(lags) >= 6:
                    break
                time.sleep(0.5)
        user = Counter(e["user_id"] for e in events).most_common(1)[0][0]
        mine = [e for e in events if e["user_id"] == user]
        titles = {int(i): title_of(t) for i, t in data.item_text.items()}
        yield {"url": url, "exe": exe, "tmp": tmp, "user": user, "mine": mine, "titles": titles}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_tree(proc)


def test_the_page_renders_with_data_and_the_user_panel_answers(served: dict[str, Any]) -> None:
    url, user = served["url"], served["user"]
    html = run_browser(served["exe"], f"{url}/?user={user}", served["tmp"] / "p1", "--dump-dom")
    dom = Dom(html)
    assert dom.text["status"].startswith("updated"), dom.text.get("status")
    models = httpx.get(url + "/v1/models").json()
    n_versions = len(models["versions"])
    # Versions and guard results: one table row per version, the champion's line, the dots.
    assert len(dom.rows["versions-table"]) == n_versions >= 4
    assert dom.paths["champion"] >= 2  # the initial version, then at least one promotion
    guarded = [r for r in dom.rows["versions-table"] if r[7].startswith("promote rmse<=")]
    assert guarded and all(" vs " in r[8] for r in guarded)  # both values of each check
    # Prequential curve: one point per updater version.
    preq = [v for v in models["versions"] if (v["metrics"] or {}).get("prequential")]
    assert dom.paths["rmse"] == dom.paths["mae"] == len(preq) >= 3
    # Ingest rate, lag and latency: series sampled every second while events streamed.
    assert dom.paths["rate"] >= 5 and dom.paths["lag"] >= 5
    assert dom.paths["/v1/recommend/{user_id} p99"] >= 2
    latency = {r[0]: r for r in dom.rows["latency-table"]}
    assert float(latency["/v1/recommend/{user_id}"][4].replace(",", "")) >= 100
    assert int(dom.text["t-seq"].replace(",", "")) == 3000
    # The user panel: newest stored events first, recommendations, all with u.item's titles.
    assert dom.attrs["user-panel"]["data-user"] == str(user)
    recent = dom.rows["recent-table"]
    newest = sorted(served["mine"], key=lambda e: int(e["event_id"][1:]), reverse=True)
    assert len(recent) == min(15, len(newest))
    for row, event in zip(recent, newest, strict=False):
        assert row[0] == f"{served['titles'][event['item_id']]} ({event['item_id']})"
    recs = dom.rows["rec-table"]
    assert [r[0] for r in recs] == [str(k) for k in range(1, 11)]
    for row in recs:
        item = int(row[1].rsplit("(", 1)[1].rstrip(")"))
        assert row[1] == f"{served['titles'][item]} ({item})"
    assert len(dom.rows["seen-table"]) == 15
    assert "known to the model" in dom.text["user-status"]


def test_screenshot(served: dict[str, Any]) -> None:
    shot = served["tmp"] / "dashboard.png"
    run_browser(
        served["exe"],
        f"{served['url']}/?user={served['user']}",
        served["tmp"] / "p2",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={shot}",
    )
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == WINDOW
    assert len(png) > 50_000  # charts and tables, not a blank page
    keep = os.environ.get("RECTUNE_DASHBOARD_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)

"""The report of a real compare and a real replay (ML-100K) in headless Chromium.

Two SVDs (5 and 20 epochs) are trained on the first 90% of ML-100K by time and compared on the
last 10%; SVD is replayed over the same data with per-chunk partial updates. ``rectune report``
draws both; Chromium opens the file with every request routed to a recording proxy on
127.0.0.1. The dumped DOM must hold the tables and the plots (inline SVGs), and the proxy must
see no request from the page; a control page with an external image shows that it would. With
``RECTUNE_REPORT_SCREENSHOT=PATH`` the screenshot is kept there (``docs/report.png``).

Skips without the data or Chromium, except under ``CI=true``, where both must be there.
"""

from __future__ import annotations

import os
import shutil
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.data import default_data_dir, load

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
#: Chromium's own background calls (clock, account, search services), not the page's.
BROWSER_HOSTS = ("clients2.google.com", "accounts.google.com", "www.google.com")


def need(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the report's browser test must run in CI: {what}")
    pytest.skip(what)


class Recorder(socketserver.BaseRequestHandler):
    """A proxy that records each request line and answers 502 (nothing leaves the machine)."""

    seen: list[str]

    def handle(self) -> None:
        line = self.request.recv(4096).split(b"\r\n")[0].decode(errors="replace")
        self.server.seen.append(line)  # type: ignore[attr-defined]
        self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture(scope="module")
def proxy() -> Iterator[socketserver.ThreadingTCPServer]:
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    srv.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def browse(page: Path, profile: Path, port: int, *extra: str) -> str:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    if exe is None:
        need("Chromium not found (apt-get install -y chromium; .ci/run installs it)")
    cmd = [
        exe,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-pings",
        f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{port}",
        "--virtual-time-budget=3000",
        *extra,
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def page_requests(seen: list[str]) -> list[str]:
    return [s for s in seen if not any(h in s for h in BROWSER_HOSTS)]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = default_data_dir()
    if root is None or not (root / "ml-100k").is_dir():
        need("ml-100k not found (set RECTUNE_DATA_DIR or provide ../shared/data)")
    assert root is not None
    tmp = tmp_path_factory.mktemp("report")
    data = load(root / "ml-100k")
    order = np.argsort(data.timestamps, kind="stable")
    cut = round(0.9 * len(data))
    data.subset(np.sort(order[:cut])).to_frame().to_csv(tmp / "old.csv", index=False)
    data.subset(np.sort(order[cut:])).to_frame().to_csv(tmp / "new.csv", index=False)
    runner = CliRunner()

    def run(*args: str) -> None:
        res = runner.invoke(app, list(args))
        assert res.exit_code == 0, res.output

    for name, epochs in (("a", 5), ("b", 20)):
        run(
            "train",
            "--data",
            str(tmp / "old.csv"),
            "--model",
            "svd",
            "--set",
            f"epochs={epochs}",
            "--set",
            "embedding_size=32",
            "--out",
            str(tmp / name),
        )
    run(
        "compare",
        str(tmp / "a"),
        str(tmp / "b"),
        "--data",
        str(tmp / "new.csv"),
        "--metrics",
        "rmse,mae",
        "--n-boot",
        "500",
        "--json",
        str(tmp / "compare.json"),
    )
    run(
        "replay",
        "--data",
        str(root / "ml-100k"),
        "--model",
        "svd",
        "--set",
        "epochs=10",
        "--update",
        "partial",
        "--chunks",
        "10",
        "--json",
        str(tmp / "replay.json"),
    )
    run(
        "report",
        str(tmp / "compare.json"),
        str(tmp / "replay.json"),
        "--title",
        "rectune report: SVD 5 vs 20 epochs, and a replay, on ML-100K",
        "--out",
        str(tmp / "report.html"),
    )
    return tmp / "report.html"


def test_report_renders_its_plots_and_fetches_nothing(report, proxy, tmp_path) -> None:
    canary = tmp_path / "canary.html"
    canary.write_text('<html><body><img src="http://canary.invalid/x.png"></body></html>')
    proxy.seen.clear()  # type: ignore[attr-defined]
    browse(canary, tmp_path / "p0", proxy.server_address[1], "--dump-dom")
    assert any("canary.invalid" in s for s in proxy.seen)  # type: ignore[attr-defined]

    proxy.seen.clear()  # type: ignore[attr-defined]
    dom = browse(report, tmp_path / "p1", proxy.server_address[1], "--dump-dom")
    assert page_requests(proxy.seen) == []  # type: ignore[attr-defined]
    assert dom.count('<section class="result">') == 2
    assert dom.count("<svg") >= 5 and dom.count("<path") > 100  # drawn plots, not empty boxes
    for label in (
        "B vs A (paired bootstrap 95% CI)",
        "per-rating change of rmse",
        "prequential accuracy over time",
        "update time per chunk",
    ):
        assert f'aria-label="{label}"' in dom
    assert dom.count("<tr>") >= 2 + 1 + 10 + 1  # compare rows, header, chunks, pooled

    shot = Path(os.environ.get("RECTUNE_REPORT_SCREENSHOT") or tmp_path / "report.png")
    browse(
        report,
        tmp_path / "p2",
        proxy.server_address[1],
        "--window-size=1300,2600",
        "--hide-scrollbars",
        f"--screenshot={shot}",
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

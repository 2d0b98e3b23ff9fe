"""Fixtures of the service tests: small SVD artifacts, a fresh registry, real servers.

`ThreadServer` runs uvicorn on 127.0.0.1 with an ephemeral port in a thread of the test
process (a real socket, real HTTP); `start_process` runs ``rectune serve`` as a child
process (for signals). Both wait for ``/readyz``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from rectune.online import Registry
from rectune.serving import create_app
from tests.online.registry_fixtures import split_data, train_svd

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="session")
def arts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A good SVD, a poor one (1 epoch), their training data and held-out events."""
    root = tmp_path_factory.mktemp("serve-arts")
    train, test = split_data()
    train_svd(train, root / "good")
    train_svd(train, root / "poor", epochs=1)
    return {"good": root / "good", "poor": root / "poor", "train": train, "test": test}


@pytest.fixture()
def reg(arts: dict[str, Any], tmp_path: Path) -> Registry:
    """A registry: version 1 (good, champion) and version 2 (poor, unaliased)."""
    r = Registry.init(tmp_path / "reg", arts["good"])
    r.add(arts["poor"], parent=1)
    return r


@pytest.fixture()
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def events_of(data: Any, start: int = 0, prefix: str = "e") -> list[dict[str, Any]]:
    """``data``'s rows as JSON events with ids ``<prefix><k>``."""
    return [
        {
            "event_id": f"{prefix}{k}",
            "user_id": int(data.user_ids[k]),
            "item_id": int(data.item_ids[k]),
            "value": float(data.values[k]),
            "timestamp": 1_700_000_000 + k,
        }
        for k in range(start, len(data))
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not ready within {timeout} s")


class ThreadServer:
    """uvicorn serving ``create_app(reg, settings=...)`` in a thread on an ephemeral port."""

    def __init__(self, registry: Registry, **settings: Any) -> None:
        self.app = create_app(registry, settings={"update": False, **settings})
        self.service = self.app.state.service
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_ready(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


@pytest.fixture()
def thread_server(reg: Registry) -> Iterator[ThreadServer]:
    with ThreadServer(reg, poll_seconds=0.1) as server:
        yield server


def start_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``rectune serve ARGS --port P`` as a child process; (process, base URL) once ready."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    cmd = [sys.executable, "-m", "rectune.cli.main", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: `kill_tree` reaches its workers
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, 60.0, proc)
    except BaseException:
        kill_tree(proc)
        raise
    return proc, url


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a `start_process` server and every process of its group (uvicorn's workers
    and their updater children would otherwise outlive a failed test)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()

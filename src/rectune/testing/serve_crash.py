"""The service crash loop: ``kill -9`` ``rectune serve`` while a client posts events.

`setup` fits an SVD (on given interactions, or a small synthetic set) as version 1 of a fresh
registry and writes a token file. `crash_loop` starts the server (``rectune serve`` with its
updater on), starts the feeder, and then ``kills`` times: lets it run a random moment, sends
SIGKILL, starts a new server on the same port at once and times it from the spawn to the first
``GET /readyz`` 200 (the *ready time*). Then the feeder is stopped, the last server is stopped
with SIGTERM, and `audit` reads the store.

The feeder is its own process (``python -m rectune.testing.serve_crash feed ...``) posting
batches of `BATCH` events with fixed ids through `rectune.client.Client`, whose retries reuse
the ids, so a batch whose answer was lost to a kill is resent and stored once. Every
`REFUSED_EVERY`-th batch holds one invalid event (a negative timestamp): the service refuses
the whole batch (422) and the client does not retry it. The feeder prints one line per batch:
``ACK k duplicates`` (duplicates > 0: an earlier attempt was committed but its answer was
lost), ``REFUSED k status`` or ``FAILED k error`` (retries exhausted).

What `audit` checks, precisely (`ok` is all of them):

* every event of every acknowledged batch is stored, exactly once;
* no event of a refused batch is stored (a refusal stores nothing);
* every stored event id is one the feeder sent, no id is stored twice, and no batch is stored
  in part (a batch commits whole or not at all);
* a batch that *failed* (the client gave up) may be stored (its commit happened but the answer
  was lost) or not: both are correct, and both are counted; with the feeder's retries
  outlasting a restart, none fails;
* every restart was ready within ``ready_limit`` seconds, and no updater child of a killed
  server outlived it (they stop when the service's pipe closes).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np

from rectune.data.interactions import Interactions
from rectune.errors import RectuneError

BATCH = 20
#: Every this many batches, one holds an invalid event and is refused as a whole.
REFUSED_EVERY = 10
TOKEN = "crash-loop-token"


class EventSender(Protocol):
    """What the feeder needs of `rectune.client.Client`."""

    def send_events(
        self, events: Sequence[Mapping[str, Any]], *, batch_size: int = ...
    ) -> dict[str, Any]: ...


def setup(
    root: str | os.PathLike[str], data: Interactions | None = None, *, seed: int = 0
) -> dict[str, Any]:
    """Version 1 (SVD on ``data``, default a small synthetic set) of a registry in ``root``,
    a token file and the store URL; returns the paths and the users and items to draw from."""
    from rectune.models import create_model
    from rectune.online.registry import Registry
    from rectune.training.config import TrainConfig

    root = Path(root)
    if data is None:
        from rectune.data.synthetic import generate

        data = generate(300, 200, 6000, seed=seed, with_text=False, with_features=False)
    create_model("svd").fit(data, train=TrainConfig(seed=seed)).save(root / "base")
    Registry.init(root / "reg", root / "base")
    (root / "token").write_text(TOKEN + "\n")
    cfg = {
        "root": str(root),
        "registry": str(root / "reg"),
        "store": f"sqlite:///{root / 'events.db'}",
        "token_file": str(root / "token"),
        "users": np.unique(data.user_ids)[:500].tolist(),
        "items": np.unique(data.item_ids)[:500].tolist(),
    }
    (root / "crash.json").write_text(json.dumps(cfg))
    return cfg


def batch(k: int, users: Sequence[Any], items: Sequence[Any]) -> list[dict[str, Any]]:
    """Batch ``k``: `BATCH` events with ids ``c{k}-{j}``; a refused one (every
    `REFUSED_EVERY`-th) has a negative timestamp in its last event."""
    rows = [
        {
            "event_id": f"c{k}-{j}",
            "user_id": users[(k * 7 + j) % len(users)],
            "item_id": items[(k * 13 + j * 3) % len(items)],
            "value": float(1 + (k + j) % 5),
            "timestamp": 1_800_000_000 + k,
        }
        for j in range(BATCH)
    ]
    if k % REFUSED_EVERY == REFUSED_EVERY - 1:
        rows[-1]["timestamp"] = -1
    return rows


def feed(
    client: EventSender,
    users: Sequence[Any],
    items: Sequence[Any],
    stop: threading.Event,
    *,
    rate: float,
    out: Any = None,
) -> None:
    """Post batch after batch (``rate`` batches/s at most) until ``stop``; one line each."""
    out = out or sys.stdout
    k = 0
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            got = client.send_events(batch(k, users, items), batch_size=BATCH)
            line = f"ACK {k} {got['duplicates']}"
        except RectuneError as exc:
            status = getattr(exc, "status", None)
            if status is not None and 400 <= status < 500:
                line = f"REFUSED {k} {status}"
            else:
                line = f"FAILED {k} {type(exc).__name__}"
        except httpx.HTTPError as exc:
            line = f"FAILED {k} {type(exc).__name__}"
        out.write(line + "\n")
        out.flush()
        k += 1
        stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - t0)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p])
    return env


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server:
    """``rectune serve`` as a child process on a fixed port."""

    def __init__(self, cfg: dict[str, Any], port: int, extra: Sequence[str]) -> None:
        self.cmd = [
            sys.executable, "-m", "rectune.cli.main", "serve", "--registry", cfg["registry"],
            "--store", cfg["store"], "--token-file", cfg["token_file"], "--port", str(port),
            *extra,
        ]  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> float:
        """Spawn and wait for ``/readyz`` 200; returns the seconds it took."""
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        with httpx.Client(timeout=1.0) as http:
            while time.perf_counter() - t0 < timeout:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"server exited {self.proc.returncode}: {err}")
                try:
                    if http.get(self.url + "/readyz").status_code == 200:
                        return time.perf_counter() - t0
                except httpx.TransportError:
                    pass
                time.sleep(0.01)
        raise RuntimeError(f"server not ready within {timeout} s")

    def kill(self) -> list[int]:
        """SIGKILL the server; returns its children (the updater) for the orphan check."""
        assert self.proc is not None
        children = _children(self.proc.pid)
        self.proc.kill()
        self.proc.wait()
        return children

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def crash_loop(
    cfg: dict[str, Any],
    kills: int,
    *,
    seed: int = 0,
    rate: float = 25.0,
    min_run: float = 0.3,
    max_run: float = 1.5,
    server_args: Sequence[str] = ("--every-events", "200", "--every-seconds", "1"),
) -> dict[str, Any]:
    """Start the server and the feeder, then ``kills`` times kill -9 and restart the server
    (see the module docstring). Returns the feeder's lines, the ready times and the killed
    servers' children."""
    rng = random.Random(seed)
    server = Server(cfg, _free_port(), server_args)
    ready = [server.start()]
    feeder = subprocess.Popen(
        [
            sys.executable, "-m", "rectune.testing.serve_crash", "feed", server.url,
            cfg["token_file"], cfg["root"], str(rate),
        ],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []

    def pump() -> None:
        assert feeder.stdout is not None
        lines.extend(feeder.stdout)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    orphans: list[int] = []
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(min_run, max_run))
            orphans += server.kill()
            ready.append(server.start())
        time.sleep(min_run)
    finally:
        feeder.send_signal(signal.SIGTERM)
        try:
            feeder.wait(60)
        except subprocess.TimeoutExpired:
            feeder.kill()
            feeder.wait()
        reader.join(10)
        server.stop()
    err = feeder.stderr.read() if feeder.stderr else ""
    if feeder.returncode not in (0, -signal.SIGTERM):
        raise RuntimeError(f"the feeder failed ({feeder.returncode}): {err}")
    deadline = time.monotonic() + 60
    while any(_alive(p) for p in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {
        "kills": kills,
        "lines": lines,
        "ready_seconds": ready[1:],
        "first_start_seconds": ready[0],
        "orphans_alive": [p for p in orphans if _alive(p)],
    }


def audit(cfg: dict[str, Any], loop: dict[str, Any], ready_limit: float = 3.0) -> dict[str, Any]:
    """Check the store against what the feeder saw (module docstring); `ok` says all held."""
    from rectune.online.store import EventStore

    with EventStore(cfg["store"]) as store:
        ids = store.read().event_id.tolist()
    outcome: dict[int, str] = {}
    resent = 0
    for line in loop["lines"]:
        word, k, *rest = line.split()
        outcome[int(k)] = word
        if word == "ACK" and int(rest[0]) > 0:
            resent += 1
    stored = Counter(ids)
    per_batch = Counter(i.split("-", 1)[0][1:] for i in stored)
    by = {w: [k for k, o in outcome.items() if o == w] for w in ("ACK", "REFUSED", "FAILED")}
    sent = len(outcome)

    def held(k: int) -> int:
        return per_batch.get(str(k), 0)

    report = {
        "kills": loop["kills"],
        "batches_sent": sent,
        "acked_batches": len(by["ACK"]),
        "acked_after_a_lost_answer": resent,
        "refused_batches": len(by["REFUSED"]),
        "failed_batches": len(by["FAILED"]),
        "failed_batches_stored": sum(1 for k in by["FAILED"] if held(k)),
        "stored_events": len(ids),
        "acked_missing": sum(BATCH - held(k) for k in by["ACK"]),
        "refused_stored": sum(held(k) for k in by["REFUSED"]),
        "stored_twice": sum(1 for c in stored.values() if c > 1),
        "stored_not_sent": sum(1 for i in stored if int(i.split("-", 1)[0][1:]) >= sent),
        "partial_batches": sum(1 for c in per_batch.values() if c != BATCH),
        "ready_max_seconds": round(max(loop["ready_seconds"], default=0.0), 3),
        "ready_seconds": [round(x, 3) for x in loop["ready_seconds"]],
        "orphan_updaters": len(loop["orphans_alive"]),
    }
    report["ok"] = (
        report["acked_missing"] == 0
        and report["refused_stored"] == 0
        and report["stored_twice"] == 0
        and report["stored_not_sent"] == 0
        and report["partial_batches"] == 0
        and report["orphan_updaters"] == 0
        and report["ready_max_seconds"] < ready_limit
        and report["acked_batches"] > 0
    )
    return report


def feed_main(client_class: Any, url: str, token_file: str, root: str, rate: float) -> None:
    """The feeder process: `feed` through ``client_class`` (`rectune.client.Client`, handed
    in by the command-line entry: the test kit sits below the client in the layer order)."""
    cfg = json.loads((Path(root) / "crash.json").read_text())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    token = Path(token_file).read_text().strip()
    client = client_class(url, token, retries=15, backoff=0.05, max_backoff=1.0, timeout=5.0)
    with client:
        feed(client, cfg["users"], cfg["items"], stop, rate=rate)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "feed":
        from rectune.client import Client

        feed_main(Client, sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        sys.exit("usage: python -m rectune.testing.serve_crash feed URL TOKEN_FILE ROOT RATE")

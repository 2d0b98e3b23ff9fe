"""``rectune serve`` under load on loopback (issue 9, "Load on loopback").

For each dataset: a model is fitted on the first 80% of the ratings by time and is version 1,
the champion, of a fresh registry. The server (``rectune serve --token-file ...``, SQLite
store, updater on: a cycle every ``--every-events`` events or ``--every-seconds``) runs pinned
to core 0 (``taskset -c 0``, in a session of its own, see `start_server`); everything that
drives it runs pinned to core 1:

* an ingest process (`ingest`, this file) posting the last 20% of the ratings, replayed in a
  loop with fresh ids, in batches of 100 to ``POST /v1/events`` at a fixed rate (default
  1,000 events/s) with the bearer token, through `rectune.client.Client` (retries reuse ids);
* wrk 4 (closed loop, one thread, C connections, a Lua script drawing each request's user
  uniformly from the dataset's users: ``GET /v1/recommend/{user}?n=10``), swept over C; the
  saturation point is the highest 2xx throughput of the sweep; wrk's latencies cover every
  answer (503s included); its CPU is the rusage of the wrk process;
* `_loadgen.py` (open loop, fixed rate, latency from each request's due time) at 1,000
  requests/s, then at twice the saturation point to show the shedding (503 answered fast).

For each phase: the server's CPU share and its event-loop thread's run-queue wait (the time
it was ready to run while the core ran another process: the machine is shared), and the
champion's version after it (read from ``GET /v1/models``: the updater promotes during the
run). Afterwards the ingest process's acknowledged event ids are checked against the store:
every acked id stored exactly once, every stored id one the client sent.

    PYTHONPATH=src python benchmarks/bench_serve.py --data ml-100k,ml-latest-small \
        --seconds 15 --connections 1,4,16,32,64,128 [--priority -10] --md /tmp/serve.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import data_dir, machine

from rectune.client import Client
from rectune.data.loaders import load
from rectune.models import create_model
from rectune.online import EventStore, Registry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOKEN = "bench-serve-token"
LUA = """
local users = {%s}
local paths = {}
for i, u in ipairs(users) do paths[i] = "/v1/recommend/" .. u .. "?n=10" end
function init(args) math.randomseed(12345) end
function request() return wrk.format("GET", paths[math.random(#paths)]) end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"p999_us":%%d,"max_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"timeout":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, e.connect, e.read,
    e.write, e.status, e.timeout))
end
"""


# ----------------------------------------------------------------------------- set-up
def prepare(root: Path, name: str, model: str) -> dict[str, Any]:
    """Fit ``model`` on the first 80% by time; registry, token, stream and request files."""
    data = load(data_dir() / name)
    order = np.argsort(data.timestamps, kind="stable")
    cut = int(0.8 * len(order))
    base, stream = data.subset(order[:cut]), data.subset(order[cut:])
    t0 = time.perf_counter()
    create_model(model).fit(base).save(root / "base")
    fit_seconds = time.perf_counter() - t0
    reg = Registry.init(root / "reg", root / "base")
    url = f"sqlite:///{root / 'events.db'}"
    EventStore(url).close()
    (root / "token").write_text(TOKEN + "\n")
    np.savez(
        root / "stream.npz",
        user_id=stream.user_ids,
        item_id=stream.item_ids,
        value=stream.values,
        timestamp=stream.timestamps,
    )
    users = np.unique(data.user_ids)
    (root / "users.lua").write_text(LUA % ",".join(f'"{u}"' for u in users))
    (root / "paths.txt").write_text("".join(f"/v1/recommend/{u}?n=10\n" for u in users))
    return {
        "root": root,
        "registry": str(reg.root),
        "store": url,
        "users": len(users),
        "items": len(np.unique(data.item_ids)),
        "base_events": len(base),
        "stream_events": len(stream),
        "fit_seconds": round(fit_seconds, 1),
    }


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}


def start_server(cfg: dict[str, Any], port: int, args: argparse.Namespace) -> subprocess.Popen:
    """``rectune serve`` pinned to core 0, in a session of its own (`spawn`): with the
    kernel's autogroups (on here) CPU time is shared between sessions first, so the server and
    its updater child form one group, apart from the load generators; ``--priority P`` sets
    that group's nice value (-20..19), and the drivers', to keep other users of the machine
    from starving them."""
    cmd = [
        "taskset", "-c", "0", sys.executable, "-m", "rectune.cli.main", "serve",
        "--registry", cfg["registry"], "--store", cfg["store"],
        "--token-file", str(cfg["root"] / "token"), "--port", str(port),
        "--every-events", str(args.every_events), "--every-seconds", str(args.every_seconds),
        "--workers", str(args.workers),
    ]  # fmt: skip
    log = open(cfg["root"] / "server.log", "w")
    proc = spawn(cmd, env=env(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(cfg['root'] / 'server.log').read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server not ready in 120 s")


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[k]) for k in (11, 12)) / tick


class Sched:
    """The server's CPU share and its event-loop thread's run-queue wait over a run: the
    time it was ready to run but the core ran something else (other processes)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t0, self.cpu0, self.wait0 = time.perf_counter(), cpu_of(pid), self._wait()

    def _wait(self) -> float:
        stat = Path(f"/proc/{self.pid}/task/{self.pid}/schedstat").read_text().split()
        return int(stat[1]) / 1e9

    def done(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        return {
            "server_cpu_share": round((cpu_of(self.pid) - self.cpu0) / wall, 2),
            "server_runqueue_wait_share": round((self._wait() - self.wait0) / wall, 2),
        }


def champion(url: str) -> dict[str, Any]:
    with Client(url, retries=10) as client:  # retried if the read is shed (503)
        m = client.models()
    return {"champion": m["aliases"].get("champion"), "versions": len(m["versions"])}


# ----------------------------------------------------------------------------- drivers
PRIORITY = 0  # set from --priority: the autogroup nice of the server and of the drivers


def spawn(cmd: list[str], **kw: Any) -> subprocess.Popen:
    """``cmd`` in a session (an autogroup) of its own, at nice `PRIORITY` if set."""
    proc = subprocess.Popen(["setsid", *cmd], **kw)
    if PRIORITY:
        with contextlib.suppress(OSError):
            Path(f"/proc/{proc.pid}/autogroup").write_text(str(PRIORITY))
    return proc


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, float]:
    """Wait for ``proc``; its stdout and its run-queue wait in seconds (the time it was ready
    to run while its core ran something else), sampled from /proc until it exits."""
    waits: dict[str, float] = {}  # per thread
    tasks = Path(f"/proc/{proc.pid}/task")
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, IndexError, ValueError):
            for t in tasks.iterdir():
                waits[t.name] = int((t / "schedstat").read_text().split()[1]) / 1e9
        time.sleep(0.2)
    waited = sum(waits.values())
    out, _ = proc.communicate(timeout=30)
    if proc.returncode:
        raise RuntimeError(f"{proc.args} exited {proc.returncode}")
    return out, waited


def run_wrk(cfg: dict[str, Any], url: str, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run pinned to core 1; the JSON its Lua ``done`` prints, plus its CPU."""
    cmd = [
        "taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s",
        "--timeout", "5s", "-s", str(cfg["root"] / "users.lua"), url,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, waited = finish(spawn(cmd, stdout=subprocess.PIPE, text=True), seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    got = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    secs = got["duration_us"] / 1e6
    errors = sum(got[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "tool": "wrk",
        "connections": connections,
        "requests": got["requests"],
        "rps": round(got["requests"] / secs, 1),
        "ok_rps": round((got["requests"] - got["status"]) / secs, 1),
        "p50_ms": got["p50_us"] / 1000,
        "p90_ms": got["p90_us"] / 1000,
        "p99_ms": got["p99_us"] / 1000,
        "p999_ms": got["p999_us"] / 1000,
        "max_ms": got["max_us"] / 1000,
        "errors": errors,
        "non_2xx": got["status"],
        "wrk_cpu_share": round(cpu / secs, 2),
        "generator_runqueue_wait_share": round(waited / secs, 2),
    }


def run_fixed(
    cfg: dict[str, Any], url: str, rate: float, seconds: float, preconnect: int
) -> dict[str, Any]:
    """`_loadgen.py` at ``rate`` requests/s, with ``preconnect`` keep-alive connections opened
    before the clock starts (a client population's warm pool; at most 1,024)."""
    cmd = [
        "taskset", "-c", "1", sys.executable, str(HERE / "_loadgen.py"), "--url", url,
        "--paths", str(cfg["root"] / "paths.txt"), "--rate", str(rate),
        "--seconds", str(seconds), "--max-connections", "1024",
        "--preconnect", str(preconnect),
    ]  # fmt: skip
    out, waited = finish(spawn(cmd, stdout=subprocess.PIPE, text=True, env=env()), seconds + 90)
    got = json.loads(out.strip().splitlines()[-1])
    got["generator_runqueue_wait_share"] = round(waited / got["wall_seconds"], 2)
    got["loadgen_cpu_share"] = round(got.pop("cpu_seconds") / got["wall_seconds"], 2)
    return {"tool": "loadgen", **got}


def start_ingest(cfg: dict[str, Any], url: str, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [
        "taskset", "-c", "1", sys.executable, str(Path(__file__).resolve()), "ingest",
        "--url", url, "--root", str(cfg["root"]), "--rate", str(args.ingest_rate),
        "--batch", str(args.batch),
    ]  # fmt: skip
    return spawn(cmd, env=env(), stdout=subprocess.PIPE, text=True)


def stop_ingest(proc: subprocess.Popen) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def ingest_main(args: argparse.Namespace) -> None:
    """The ingest process: batch k is due at ``k * batch / rate`` seconds and is posted by one
    of ``--senders`` threads (each with its own `Client`), so one slow commit does not hold
    the stream back; runs until SIGTERM and prints what was acknowledged."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rectune.client import ServiceError

    s = np.load(Path(args.root) / "stream.npz")
    cols = {k: s[k].tolist() for k in ("user_id", "item_id", "value", "timestamp")}
    n = len(cols["user_id"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    local = threading.local()
    clients: list[Client] = []
    lock = threading.Lock()
    acked: list[int] = []  # batch numbers acked; batch k holds ids ev{k*B}..ev{k*B+B-1}
    failed: list[int] = []
    ack_ms: list[float] = []
    b = args.batch

    def send(k: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(args.url, token=TOKEN, retries=8, timeout=10.0, rng=k)
            with lock:
                clients.append(local.client)
        rows = [
            {
                "event_id": f"ev{j}",
                "user_id": cols["user_id"][j % n],
                "item_id": cols["item_id"][j % n],
                "value": cols["value"][j % n],
                "timestamp": cols["timestamp"][j % n],
            }
            for j in range(k * b, (k + 1) * b)
        ]
        t = time.perf_counter()
        try:
            got = local.client.send_events(rows, batch_size=b)
        except (ServiceError, httpx.HTTPError):
            with lock:
                failed.append(k)
            return
        assert got["accepted"] + got["duplicates"] == b
        with lock:
            acked.append(k)
            ack_ms.append((time.perf_counter() - t) * 1000)

    late = 0
    t0 = time.perf_counter()
    k = 0
    with ThreadPoolExecutor(args.senders) as pool:
        while not stop.is_set():
            pause = t0 + k * b / args.rate - time.perf_counter()
            if pause > 0:
                stop.wait(pause)
            elif pause < -0.1:
                late += 1
            pool.submit(send, k)
            k += 1
        wall = time.perf_counter() - t0
    out = {
        "batch": b,
        "batches": k,
        "acked": sorted(acked),
        "failed": sorted(failed),
        "events_per_s": round(len(acked) * b / wall, 1),
        "ack_p50_ms": round(float(np.percentile(ack_ms, 50)), 2) if ack_ms else None,
        "ack_p99_ms": round(float(np.percentile(ack_ms, 99)), 2) if ack_ms else None,
        "late_batches": late,
        "attempts": sum(c.attempts for c in clients),
    }
    print(json.dumps(out))


def audit(cfg: dict[str, Any], ing: dict[str, Any]) -> dict[str, Any]:
    """Every acked event id stored exactly once; every stored id one the client sent."""
    with EventStore(cfg["store"]) as store:
        ids = store.read().event_id.tolist()
    b = ing["batch"]
    acked = {f"ev{j}" for k in ing["acked"] for j in range(k * b, (k + 1) * b)}
    sent = {f"ev{j}" for j in range(ing["batches"] * b)}
    stored = set(ids)
    return {
        "acked_events": len(acked),
        "stored_events": len(ids),
        "missing_acked": len(acked - stored),
        "stored_twice": len(ids) - len(stored),
        "stored_not_sent": len(stored - sent),
        "failed_batches": len(ing["failed"]),
    }


# ----------------------------------------------------------------------------- main
def bench(name: str, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"bench-serve-{name}-"))
    cfg = prepare(root, name, args.model)
    port = 18000 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    server = start_server(cfg, port, args)
    out: dict[str, Any] = {"data": name, "model": args.model, **cfg, "root": str(root)}
    ingest = None
    try:
        ingest = start_ingest(cfg, url, args)
        time.sleep(3.0)  # the ingest client's start-up; the first updater cycles
        whole = Sched(server.pid)
        runs = []
        before = champion(url)

        def phase(run: Any, *a: Any) -> dict[str, Any]:
            sched = Sched(server.pid)
            r = run(cfg, url, *a)
            r.update(sched.done())
            r.update({f"after_{k}": v for k, v in champion(url).items()})
            print(json.dumps(r), file=sys.stderr)
            return r

        for c in args.connections:
            runs.append(phase(run_wrk, c, args.seconds))
        sat = max(runs, key=lambda r: r["ok_rps"])  # answered 2xx: sheds are no throughput
        fixed = phase(run_fixed, args.fixed_rate, args.seconds, 64)
        over = phase(run_fixed, round(2 * sat["ok_rps"]), args.seconds, args.preconnect)
        server_cpu = whole.done()
        ing = stop_ingest(ingest)
        ingest = None
        time.sleep(0.5)
        out.update(
            before=before,
            wrk=runs,
            saturation_rps=sat["ok_rps"],
            saturation_connections=sat["connections"],
            fixed=fixed,
            overload=over,
            server=server_cpu,
            ingest={k: v for k, v in ing.items() if k not in ("acked", "failed")},
            audit=audit(cfg, ing),
        )
    finally:
        if ingest is not None:
            ingest.kill()
            ingest.wait()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The RESULTS.md table: one row per wrk run, then the two fixed-rate runs."""
    lines = [
        "| data | load | conns | 2xx/s | p50 ms | p99 ms | p99.9 ms | max ms | non-2xx "
        "| errors | generator CPU (run-queue wait) | server CPU | server run-queue wait "
        "| champion after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for r in row["wrk"]:
            lines.append(
                f"| {row['data']} | wrk | {r['connections']} | {r['ok_rps']:,.0f} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p999_ms']:.2f} | "
                f"{r['max_ms']:.1f} | {r['non_2xx']} | {r['errors'] - r['non_2xx']} | "
                f"{r['wrk_cpu_share']:.0%} ({r['generator_runqueue_wait_share']:.0%}) | "
                f"{r['server_cpu_share']:.0%} | "
                f"{r['server_runqueue_wait_share']:.0%} | v{r['after_champion']} |"
            )
        for label, r in (("fixed rate", row["fixed"]), ("2x saturation", row["overload"])):
            codes = {k: v for k, v in r["statuses"].items() if k.isdigit() and k != "200"}
            errors = sum(v for k, v in r["statuses"].items() if not k.isdigit()) + r["unsent"]
            shed = ", ".join(f"{v} x {k}" for k, v in codes.items()) or "0"
            if codes:
                shed += (
                    f" in p50 {r['shed_p50_ms']} / p99 {r['shed_p99_ms']} ms (after 2 s: "
                    f"{r['steady_shed_p50_ms']} / {r['steady_shed_p99_ms']})"
                )
            lines.append(
                f"| {row['data']} | {label} {r['target_rate']:,.0f}/s | "
                f"{r['connections_peak']} | {r['ok_rate']:,.0f} | {r['ok_p50_ms']} "
                f"({r['steady_ok_p50_ms']}) | {r['ok_p99_ms']} ({r['steady_ok_p99_ms']}) | | "
                f"{r['ok_max_ms']} | {shed} | {errors} | "
                f"{r['loadgen_cpu_share']:.0%} ({r['generator_runqueue_wait_share']:.0%}) | "
                f"{r['server_cpu_share']:.0%} | "
                f"{r['server_runqueue_wait_share']:.0%} | v{r['after_champion']} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    ing = sub.add_parser("ingest")
    ing.add_argument("--url", required=True)
    ing.add_argument("--root", required=True)
    ing.add_argument("--rate", type=float, default=1000.0)
    ing.add_argument("--batch", type=int, default=100)
    ing.add_argument("--senders", type=int, default=4)
    ap.add_argument("--data", default="ml-100k,ml-latest-small")
    ap.add_argument("--model", default="svd")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--connections", default="1,2,4,8,16,32,64")
    ap.add_argument("--fixed-rate", type=float, default=1000.0)
    ap.add_argument("--ingest-rate", type=float, default=1000.0)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--every-events", type=int, default=2000)
    ap.add_argument("--every-seconds", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--priority", type=int, default=0, help="the server's autogroup nice")
    ap.add_argument(
        "--preconnect", type=int, default=1024, help="warm connections of the 2x-saturation run"
    )
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the registry and store")
    args = ap.parse_args()
    if args.cmd == "ingest":
        ingest_main(args)
        return
    args.connections = [int(c) for c in args.connections.split(",")]
    global PRIORITY
    PRIORITY = args.priority
    rows = [bench(name, args) for name in args.data.split(",")]
    for row in rows:
        row["machine"] = machine()
    print(json.dumps(rows, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    table = markdown(rows)
    print(table)
    if args.md:
        Path(args.md).write_text(table + "\n")


if __name__ == "__main__":
    main()

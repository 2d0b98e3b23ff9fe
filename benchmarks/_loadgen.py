"""An open-loop, fixed-rate HTTP/1.1 load generator (wrk 4 has no fixed rate; wrk2 is not
packaged). Used by `bench_serve.py` for the fixed-rate points (1,000 requests/s, and twice the
saturation point).

Request ``i`` is due at ``t0 + i / rate`` whatever happened to earlier ones; it is sent on an
idle keep-alive connection, or a new one when all are busy (up to ``max_connections``; past
that the request is counted as ``unsent``: the generator, not the server, is the limit). Its
latency runs from the time it was due to the last byte of the answer, so a server that falls
behind is charged for the wait (no coordinated omission). Plain asyncio streams over uvloop,
so one core drives several thousand requests/s.

    python benchmarks/_loadgen.py --url http://127.0.0.1:8000 --paths paths.txt \
        --rate 2000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import time
from collections import Counter
from urllib.parse import urlsplit

import numpy as np


class Conn:
    """One keep-alive connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, head: bytes) -> int:
        self.writer.write(head)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, close = 0, False
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            key, _, value = line.partition(b":")
            key = key.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            raise ConnectionResetError("server closed the connection")
        return status


async def run(
    url: str, paths: list[str], rate: float, seconds: float, max_connections: int,
    timeout: float, seed: int, dump: str | None = None, warmup: float = 2.0,
    preconnect: int = 0,
) -> dict[str, object]:  # fmt: skip
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    heads = [
        f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: loadgen\r\n\r\n".encode()
        for p in paths
    ]
    rng = random.Random(seed)
    idle: list[Conn] = []
    opened = peak = 0
    statuses: Counter[str] = Counter()
    lat_ok: list[float] = []
    lat_other: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    trace: list[tuple[float, float, int]] = []  # (due - t0, latency, status) per answer

    connects: list[float] = []  # seconds each new connection took to establish

    async def connect() -> Conn:
        t = time.perf_counter()
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        connects.append(time.perf_counter() - t)
        return Conn(r, w)

    async def one(due: float, head: bytes, conn: Conn | None) -> None:
        nonlocal opened
        try:
            if conn is None:
                conn = await connect()
                status = await asyncio.wait_for(conn.get(head), timeout)
            else:
                try:
                    status = await asyncio.wait_for(conn.get(head), timeout)
                except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                    if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                        raise
                    # A keep-alive connection the server closed while it sat idle (uvicorn's
                    # keep-alive timeout): nothing was answered, so resend on a new one, as
                    # HTTP clients do.
                    conn.writer.close()
                    conn = await connect()
                    status = await asyncio.wait_for(conn.get(head), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            statuses[type(exc).__name__] += 1
            if conn is not None:
                conn.writer.close()
            opened -= 1
            return
        took = time.perf_counter() - due
        trace.append((due - t0, took, status))
        statuses[str(status)] += 1
        (lat_ok if status == 200 else lat_other).append(took)
        idle.append(conn)

    for _ in range(preconnect):  # a warm pool, as a client population would hold
        idle.append(await connect())
    opened = peak = len(idle)
    t0 = time.perf_counter() + 0.05
    n_total = int(rate * seconds)
    unsent = 0
    late: list[float] = []  # how late each request left the generator (its own lag)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(n_total):
        due = t0 + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        late.append(time.perf_counter() - due)
        conn = idle.pop() if idle else None
        if conn is None:
            if opened >= max_connections:
                unsent += 1
                continue
            opened += 1  # counted now: the connection is opened by the task
            peak = max(peak, opened)
        task = asyncio.create_task(one(due, heads[rng.randrange(len(heads))], conn))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_for = time.perf_counter() - t0
    if tasks:
        await asyncio.wait(set(tasks), timeout=timeout + 1)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    for c in idle:
        c.writer.close()

    if dump:
        with open(dump, "w") as f:
            f.writelines(f"{a:.4f} {b:.4f} {c}\n" for a, b, c in trace)

    def pct(xs: list[float], q: float) -> float | None:
        return round(float(np.percentile(xs, q)) * 1000, 2) if xs else None

    steady_ok = [b for a, b, c in trace if a >= warmup and c == 200]
    steady_other = [b for a, b, c in trace if a >= warmup and c != 200]

    done = sum(v for k, v in statuses.items() if k.isdigit())
    return {
        "target_rate": rate,
        "seconds": seconds,
        "scheduled": n_total,
        "unsent": unsent,
        "sent_rate": round((n_total - unsent) / sent_for, 1),
        "answered_rate": round(done / wall, 1),
        "ok_rate": round(len(lat_ok) / wall, 1),
        "statuses": dict(statuses),
        "connections_peak": peak,
        "connect_p99_ms": pct(connects, 99),
        "connect_max_ms": pct(connects, 100),
        "connects_over_1s": sum(c > 1.0 for c in connects),
        "ok_p50_ms": pct(lat_ok, 50),
        "ok_p99_ms": pct(lat_ok, 99),
        "ok_max_ms": pct(lat_ok, 100),
        "shed_p50_ms": pct(lat_other, 50),
        "shed_p99_ms": pct(lat_other, 99),
        "generator_late_p99_ms": pct(late, 99),
        "steady_after_s": warmup,
        "steady_ok_p50_ms": pct(steady_ok, 50),
        "steady_ok_p99_ms": pct(steady_ok, 99),
        "steady_shed_p50_ms": pct(steady_other, 50),
        "steady_shed_p99_ms": pct(steady_other, 99),
        "cpu_seconds": round((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 2),
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--paths", required=True, help="file: one request path a line")
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-connections", type=int, default=512)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dump", default=None, help="write 'due latency status' per answer")
    ap.add_argument("--warmup", type=float, default=2.0, help="steady_* stats skip these s")
    ap.add_argument("--preconnect", type=int, default=0, help="connections opened beforehand")
    args = ap.parse_args()
    with open(args.paths) as f:
        paths = [line.strip() for line in f if line.strip()]
    import uvloop

    out = uvloop.run(
        run(args.url, paths, args.rate, args.seconds, args.max_connections, args.timeout,
            args.seed, args.dump, args.warmup, args.preconnect)
    )  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()

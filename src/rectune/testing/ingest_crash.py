"""The ingest crash loop: ``kill -9`` a process appending batches, then audit the store.

A child (``python -m rectune.testing.ingest_crash child URL TAG``) appends batches of
`BATCH` new events plus a few retried ones of its previous batch, and prints ``ACK k`` only
after `EventStore.append` returned (the commit is durable). `crash_loop` kills children at
random moments and `audit` checks the store: every acknowledged batch is there exactly once,
no batch is there in part, sequence numbers are unique and increasing, and the store reopens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import numpy as np

BATCH = 20
RETRIED = 3
STUCK = 90.0  # seconds without an ack after which a child dumps its stack and exits


def batch(tag: str, k: int) -> list[dict[str, Any]]:
    """Batch ``k`` of child ``tag``: `BATCH` new events and `RETRIED` of batch ``k - 1``."""
    rows = [
        {
            "event_id": f"{tag}-{k}-{j}",
            "user_id": f"u{(k * 7 + j) % 50}",
            "item_id": f"i{(k * 13 + j) % 200}",
            "value": float(1 + (k + j) % 5),
            "timestamp": 1_700_000_000 + k,
        }
        for j in range(BATCH)
    ]
    if k > 0:
        rows += batch(tag, k - 1)[:RETRIED]
    return rows


def child(url: str, tag: str) -> None:
    """Append batches forever, acknowledging each after its commit."""
    import faulthandler

    from rectune.online.store import EventStore

    faulthandler.dump_traceback_later(STUCK, exit=True)  # a hung child says where it hangs
    store = EventStore(url)
    k = 0
    while True:
        store.append(batch(tag, k))
        sys.stdout.write(f"ACK {k}\n")
        sys.stdout.flush()
        faulthandler.cancel_dump_traceback_later()
        faulthandler.dump_traceback_later(STUCK, exit=True)
        k += 1


def crash_loop(
    url: str, kills: int, *, seed: int = 0, min_run: float = 0.05, max_run: float = 0.8
) -> dict[str, Any]:
    """Start and ``kill -9`` `kills` children; returns the acknowledged batches per tag."""
    rng = np.random.default_rng(seed)
    acked: dict[str, int] = {}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p])
    for r in range(kills):
        tag = f"s{seed}r{r}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "rectune.testing.ingest_crash", "child", url, tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines: list[str] = []
        first = threading.Event()

        def pump(
            p: subprocess.Popen[str] = proc, out: list[str] = lines, up: threading.Event = first
        ) -> None:
            assert p.stdout is not None
            for line in p.stdout:
                out.append(line)
                up.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        if not first.wait(STUCK + 30):
            proc.kill()
            proc.wait()
            assert proc.stderr is not None
            raise RuntimeError(f"child {tag} on {url} never acknowledged: {proc.stderr.read()}")
        time.sleep(float(rng.uniform(min_run, max_run)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(10)
        done = [int(x.split()[1]) for x in lines if x.startswith("ACK ") and x.endswith("\n")]
        acked[tag] = max(done) + 1 if done else 0
    return acked


def audit(url: str, acked: dict[str, int]) -> dict[str, Any]:
    """Check the store against the acknowledgements; returns the counts (problems are 0)."""
    from rectune.online.store import EventStore

    with EventStore(url) as store:
        events = store.read(0)
        count = store.count()
    ids = list(events.event_id)
    seen = Counter(ids)
    per_batch = Counter(eid.rsplit("-", 1)[0] for eid in seen)
    missing = sum(
        1
        for tag, n in acked.items()
        for k in range(n)
        for j in range(BATCH)
        if f"{tag}-{k}-{j}" not in seen
    )
    return {
        "kills": len(acked),
        "acked_batches": sum(acked.values()),
        "acked_events": sum(acked.values()) * BATCH,
        "stored_events": len(ids),
        "missing_acked": missing,
        "stored_twice": sum(1 for c in seen.values() if c > 1),
        "partial_batches": sum(1 for c in per_batch.values() if c != BATCH),
        "seq_increasing": bool(np.all(np.diff(events.seq) > 0)),
        "count_matches": count["events"] == len(ids),
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: python -m rectune.testing.ingest_crash child URL TAG")

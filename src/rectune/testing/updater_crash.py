"""The updater crash loop: ``kill -9`` a running ``rectune updater`` while events arrive.

`setup` fits ALS on implicit synthetic data (every event weighs 1, so a model's ``seen_``
matrix sums to the number of events it learned, with repeats adding up) and makes a registry
and an SQLite store. `crash_loop` ingests batches in a thread while it starts the updater CLI
in a child process and kills it at random moments; then one in-process catch-up
(`Updater.run_once`) and `audit`: every version's consumed range begins one past its
parent's (`check_lineage`), the champion holds every stored event, and exactly once (its
``seen_`` sums to the base data plus the stored events), every version verifies.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rectune.data.interactions import Interactions
from rectune.errors import RegistryError
from rectune.online.live import Updater
from rectune.online.registry import Registry
from rectune.online.store import EventStore

BATCH = 25


def setup(root: str | os.PathLike[str], *, seed: int = 0) -> dict[str, Any]:
    """A fitted ALS champion in ``root/reg`` and an empty store ``root/events.db``."""
    from rectune.data.synthetic import generate
    from rectune.models import create_model

    root = Path(root)
    data = generate(300, 200, 6000, seed=seed, implicit=True, with_text=False, with_features=False)
    data = Interactions.from_raw(
        data.user_ids, data.item_ids, np.ones(len(data)), data.timestamps, kind="implicit"
    )
    model = create_model("als", embedding_size=8, epochs=3).fit(data)
    model.save(root / "base")
    Registry.init(root / "reg", root / "base")
    url = f"sqlite:///{root / 'events.db'}"
    EventStore(url).close()
    return {"registry": str(root / "reg"), "store": url, "base_weight": float(len(data))}


def events(k: int, rng: random.Random) -> list[dict[str, Any]]:
    """Batch ``k``: known users and items mostly, a few new ones, weight 1 each."""
    out = []
    for j in range(BATCH):
        new = rng.random() < 0.05
        out.append(
            {
                "event_id": f"b{k}-{j}",
                "user_id": 100_000 + k if new else rng.randrange(300),
                "item_id": rng.randrange(200),
                "value": 1.0,
                "timestamp": 1_800_000_000 + k,
            }
        )
    return out


def _ingest(
    url: str, stop: threading.Event, rate: float, seed: int, errors: list[BaseException]
) -> None:
    rng = random.Random(seed)
    try:
        with EventStore(url) as store:
            k = 0
            while not stop.is_set():
                store.append(events(k, rng))
                k += 1
                stop.wait(BATCH / rate)
    except BaseException as exc:  # reported by crash_loop: a dead feeder proves nothing
        errors.append(exc)


def _child(cfg: dict[str, Any], args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "rectune.cli.main",
        "updater",
        "--registry",
        cfg["registry"],
        "--store",
        cfg["store"],
        "--every-events",
        "40",
        "--every-seconds",
        "0.2",
        *args,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def crash_loop(
    cfg: dict[str, Any],
    kills: int,
    *,
    seed: int = 0,
    rate: float = 500.0,
    min_wait: float = 0.5,
    max_wait: float = 3.0,
    updater_args: Sequence[str] = (),
    catch_up_guard: str | None = None,
) -> dict[str, Any]:
    """``kills`` kill -9s of the updater at random moments while events are ingested.

    ``updater_args``: more options of the ``rectune updater`` children (``--publish-every``).
    ``catch_up_guard``: the guard of the final catch-up (default: the updater's; ``"none"``:
    a guard refusal of its last cycle, which loses nothing, cannot stop it short of the end).
    """
    rng = random.Random(seed)
    stop = threading.Event()
    errors: list[BaseException] = []
    feeder = threading.Thread(
        target=_ingest, args=(cfg["store"], stop, rate, seed, errors), daemon=True
    )
    feeder.start()
    waits = []
    try:
        for _ in range(kills):
            child = _child(cfg, updater_args)
            wait = rng.uniform(min_wait, max_wait)
            time.sleep(wait)
            if child.poll() is not None:
                err = child.stderr.read().decode() if child.stderr else ""
                raise RuntimeError(f"updater exited by itself ({child.returncode}): {err}")
            child.kill()
            child.wait()
            waits.append(wait)
    finally:
        stop.set()
        feeder.join()
    if errors:
        raise RuntimeError(f"the ingesting thread failed: {errors[0]!r}") from errors[0]
    up = _catch_up(cfg, catch_up_guard)
    return {"kills": kills, "waits": waits, "final_cycles": up}


def _catch_up(cfg: dict[str, Any], guard: str | None = None) -> int:
    """Run the updater to the end of the store (retrying while a dying child holds the lock)."""
    for _ in range(50):
        try:
            up = Updater(
                cfg["registry"], cfg["store"], every_events=40, every_seconds=0.2, guard=guard
            )
            try:
                return len(up.run_once())
            finally:
                up.close()
        except RegistryError as exc:
            if "updater.lock" not in str(exc):
                raise
            time.sleep(0.1)
    raise RuntimeError("the updater lock was never released")


def check_lineage(reg: Registry) -> list[str]:
    """Problems with the consumed ranges: each must begin one past its parent's end."""
    problems = []
    by_version = {v.version: v for v in reg.versions}

    def consumed(n: int | None) -> int:
        while n is not None and n in by_version:
            info = by_version[n]
            if info.events:
                return int(info.events["last_seq"])
            n = info.parent
        return 0

    for info in reg.versions:
        update = (info.metrics or {}).get("update")
        if not update or not info.events or info.parent not in by_version:
            continue  # not an updater's version, or its parent was collected
        want = 1 if update["policy"] == "retrain" else consumed(info.parent) + 1
        if info.events["first_seq"] != want:
            problems.append(
                f"v{info.version}: range starts at {info.events['first_seq']}, parent "
                f"v{info.parent} ends at {want - 1}"
            )
    return problems


def audit(cfg: dict[str, Any]) -> dict[str, Any]:
    """The checks of the module docstring; raises AssertionError naming the first failure."""
    reg = Registry(cfg["registry"])
    problems = check_lineage(reg)
    assert not problems, problems
    for row in reg.list():
        assert not row.get("error"), row
    for info in reg.versions:
        reg.verify(info.version)
    with EventStore(cfg["store"]) as store:
        count = store.count()
    champion = reg.aliases["champion"]
    up = Updater(reg, cfg["store"])
    consumed = up.consumed_seq(champion)
    up.close()
    assert consumed == count["last_seq"], (consumed, count)
    model = reg.load(champion)
    learned = float(model.seen_.sum())
    expected = cfg["base_weight"] + count["events"]
    assert learned == expected, f"champion learned weight {learned}, expected {expected}"
    return {
        "versions": len(reg.versions),
        "champion": champion,
        "events": count["events"],
        "last_seq": count["last_seq"],
        "learned_weight": learned,
    }


__all__ = ["audit", "check_lineage", "crash_loop", "setup"]

"""`Updater` with ``publish_every`` > 1: folds in memory between versions, exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from rectune.data.synthetic import generate
from rectune.errors import ConfigError
from rectune.models import create_model
from rectune.online import EventStore, Registry, Updater
from rectune.testing.updater_crash import audit, check_lineage, crash_loop, setup


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An SVD fitted on the first 80% of a synthetic stream; the rest to replay."""
    root = tmp_path_factory.mktemp("world")
    data = generate(300, 150, 6_000, seed=5, with_features=False)
    order = np.argsort(data.timestamps, kind="stable")
    n0 = int(len(order) * 0.8)
    old, new = data.subset(order[:n0]), data.subset(order[n0:])
    create_model("svd", epochs=5).fit(old).save(root / "svd")
    return {"root": root, "old": old, "new": new}


def _fresh(world, path, **kw):
    reg = Registry.init(path / "reg", world["root"] / "svd")
    store = EventStore(f"sqlite:///{path / 'ev.db'}")
    new = world["new"]
    store.append(
        {
            "user_id": new.user_ids,
            "item_id": new.item_ids,
            "value": new.values,
            "timestamp": new.timestamps,
        }
    )
    kw.setdefault("max_batch", 100)  # a cycle per 100 rows: many cycles from one backlog
    return reg, store, Updater(reg, store, every_events=100, **kw)


def test_folds_between_versions_learn_what_every_cycle_versions_learn(world, tmp_path) -> None:
    """Same cycles, same events: publishing every 3rd cycle ends in the very same champion as
    publishing every cycle, with fewer versions whose ranges still chain exactly."""
    reg1, _, every = _fresh(world, tmp_path / "a", guard="none")
    reg3, store, third = _fresh(world, tmp_path / "b", guard="none", publish_every=3)
    c1, c3 = every.run_once(), third.run_once()
    learned = [c for c in c3 if c.events]
    assert len(c1) == len(learned) > 6 and all(c.published for c in c1)
    folded = [c for c in learned if not c.published]
    assert [c.published for c in learned[:6]] == [False, False, True] * 2
    assert folded and all(c.live and c.version is None for c in folded)
    assert len(reg3.versions) < len(reg1.versions) and check_lineage(reg3) == []
    assert third.consumed_seq(reg3.aliases["champion"]) == store.last_seq
    counts = [v.events["count"] for v in reg3.versions if v.events]
    assert sum(counts) == sum(c.events for c in c3)
    users, items = world["new"].user_ids[:50], world["new"].item_ids[:50]
    a, b = reg1.load("champion"), reg3.load("champion")
    np.testing.assert_array_equal(a.predict(users, items), b.predict(users, items))
    every.close(), third.close()


def test_live_model_runs_ahead_of_the_registry_until_published(world, tmp_path) -> None:
    reg, store, up = _fresh(world, tmp_path, publish_every=3)
    first = up.step(force=True)
    assert first is not None and first.live and not first.published and first.version is None
    assert reg.aliases["champion"] == 1 and len(reg.versions) == 1  # nothing written
    st = up.status()
    assert st["unpublished_cycles"] == 1 and st["live_seq"] == first.last_seq
    assert st["consumed_seq"] == 0 and up.model is not reg.load("champion")
    up.close()
    # A crash here loses only the fold: a new updater re-applies its events from v1.
    again = Updater(reg, store, every_events=100)
    redo = again.step(force=True)
    assert redo is not None and redo.first_seq == 1 and redo.published
    assert reg.resolve(redo.version).events["first_seq"] == 1
    again.close()


def test_refusal_in_memory_keeps_the_live_model_and_writes_nothing(world, tmp_path) -> None:
    reg, _, up = _fresh(world, tmp_path, publish_every=5, guard="rmse<=-10", max_batch=10**5)
    cycle = up.step(force=True)
    assert cycle is not None and not cycle.live and cycle.version is None
    assert "rmse" in cycle.reason and len(reg.versions) == 1
    assert up.step(force=True) is None  # refused on these events: wait for new ones
    up.close()


def test_refused_publication_drops_the_folds_and_relearns_them_once(world, tmp_path) -> None:
    reg, store, up = _fresh(world, tmp_path, publish_every=2, guard="none")
    real, calls = reg.promote, []

    def refuse_first(version, **kw):
        calls.append(version)
        if len(calls) == 1:
            return real(version, alias=kw["alias"], guard="rmse<=-10", data=kw["data"])
        return real(version, **kw)

    reg.promote = refuse_first  # type: ignore[method-assign]
    a, b = up.step(force=True), up.step(force=True)
    assert a.live and not a.published and b.published and not b.promoted
    assert reg.aliases["champion"] == 1 and up.status()["unpublished_cycles"] == 0
    assert up.status()["live_seq"] == 0  # back to v1: the folded events are read again
    cycles = up.run_once()
    assert cycles[0].first_seq == 1 and check_lineage(reg) == []
    champion = reg.aliases["champion"]
    assert up.consumed_seq(champion) == store.last_seq
    chain, v = [], champion
    while v is not None and reg.resolve(v).events:
        chain.append(reg.resolve(v).events)
        v = reg.resolve(v).parent
    assert sum(e["count"] for e in chain) == sum(c.events for c in cycles)
    up.close()


def test_publish_seconds_publishes_on_time_while_busy_and_when_idle(world, tmp_path) -> None:
    reg, store, up = _fresh(
        world, tmp_path / "busy", publish_every=100, publish_seconds=0.05, max_batch=10**5,
        guard="none",
    )  # fmt: skip
    first = up.step(force=True)  # the whole backlog: 10% held out for the next cycle
    assert first is not None and first.live and not first.published
    time.sleep(0.1)
    second = up.step(force=True)
    assert second is not None and second.published and second.promoted
    assert up.status()["unpublished_cycles"] == 0
    up.close()
    reg = Registry.init(tmp_path / "idle" / "reg", world["root"] / "svd")
    store = EventStore(f"sqlite:///{tmp_path / 'idle' / 'ev.db'}")
    store.append([{"user_id": 1, "item_id": 1, "value": 4.0, "timestamp": 2_000_000_000}])
    up = Updater(reg, store, publish_every=100, publish_seconds=0.05)
    fold = up.step(force=True)
    assert fold is not None and fold.live and not fold.published
    assert up.step() is None  # nothing waits and the fold is young: nothing to do
    time.sleep(0.1)
    flushed = up.step()  # idle stream: the fold is published on time
    assert flushed is not None and flushed.published and flushed.promoted
    assert up.consumed_seq(reg.aliases["champion"]) == store.last_seq == 1
    up.close()


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"publish_every": 0}, "publish_every"), ({"publish_seconds": 0.0}, "publish_seconds")],
)
def test_bad_publish_settings(world, tmp_path, kw, match) -> None:
    with pytest.raises(ConfigError, match=match):
        _fresh(world, tmp_path, **kw)


def test_cli_publish_every_once_publishes_everything(world, tmp_path) -> None:
    reg, store, up = _fresh(world, tmp_path)
    up.close()
    cmd = [sys.executable, "-m", "rectune.cli.main", "updater", "--registry", str(reg.root),
           "--store", store.url, "--every-events", "300", "--publish-every", "4", "--once",
           "--json"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert any(r["version"] is None and r["live"] for r in rows)
    assert rows[-1]["published"] and rows[-1]["promoted"]
    reg.reload()
    assert Updater(reg, store).consumed_seq(reg.aliases["champion"]) == store.last_seq
    assert check_lineage(reg) == []


def test_kill_9_crash_loop_with_publish_every(tmp_path) -> None:
    """Folds lost to kill -9 are re-applied from the log: still exactly once. (The catch-up
    runs unguarded: a refusal of its one big cycle loses nothing but would stop it short.)"""
    cfg = setup(tmp_path)
    res = crash_loop(
        cfg, kills=2, seed=2, min_wait=1.0, max_wait=2.5,
        updater_args=["--publish-every", "3"], catch_up_guard="none",
    )  # fmt: skip
    summary = audit(cfg)
    assert res["kills"] == 2 and summary["events"] > 100
    assert summary["learned_weight"] == cfg["base_weight"] + summary["events"]

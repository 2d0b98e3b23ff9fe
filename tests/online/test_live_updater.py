"""`Updater`: tailing the store, prequential scoring, guarded promotion, exactly once."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from rectune.data.synthetic import generate
from rectune.errors import ConfigError, RegistryError
from rectune.models import create_model
from rectune.online import EventStore, Registry, Updater
from rectune.testing.updater_crash import audit, check_lineage, crash_loop, setup


def _split(data, frac=0.8):
    order = np.argsort(data.timestamps, kind="stable")
    n0 = int(len(order) * frac)
    return data.subset(order[:n0]), data.subset(order[n0:])


def _columns(data):
    return {
        "user_id": data.user_ids,
        "item_id": data.item_ids,
        "value": data.values,
        "timestamp": data.timestamps,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An SVD fitted on the first 80% of a synthetic stream; the rest to replay."""
    root = tmp_path_factory.mktemp("world")
    data = generate(300, 150, 12_000, seed=3, with_features=False)
    old, new = _split(data)
    create_model("svd", epochs=5).fit(old).save(root / "svd")
    return {"root": root, "old": old, "new": new}


def _fresh(world, tmp_path, **kw):
    reg = Registry.init(tmp_path / "reg", world["root"] / "svd")
    store = EventStore(f"sqlite:///{tmp_path / 'ev.db'}")
    store.append(_columns(world["new"]))
    return reg, store, Updater(reg, store, **kw)


def test_catch_up_consumes_every_event_once_with_contiguous_ranges(world, tmp_path) -> None:
    reg, store, up = _fresh(world, tmp_path, every_events=500)
    cycles = up.run_once()
    assert cycles and all(c.promoted for c in cycles)
    assert up.status()["lag_events"] == 0
    assert check_lineage(reg) == []
    assert sum(c.events for c in cycles) == len(world["new"])
    ranges = [(c.first_seq, c.last_seq) for c in cycles]
    assert ranges[0][0] == 1 and ranges[-1][1] == store.count()["last_seq"]
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    first = reg.resolve(cycles[0].version)
    assert first.metrics["prequential"]["n"] == cycles[0].events
    assert 0.3 < first.metrics["prequential"]["rmse"] < 2.0
    assert first.metrics["update"]["policy"] == "partial"
    # The champion learned the stream: it knows the stream's new users.
    champion = reg.load("champion")
    assert len(champion.user_map_) >= len(np.unique(world["new"].user_ids))
    up.close()


def test_due_waits_for_events_or_time(world, tmp_path) -> None:
    reg, store, up = _fresh(world, tmp_path, every_events=10**9, every_seconds=3600)
    assert up.step() is None  # 2,400 events wait, neither threshold reached
    assert up.step(force=True) is not None
    up.close()
    up2 = Updater(reg, store, every_events=10**9, every_seconds=0.01)
    assert up2.step() is None  # the clock starts when the updater first sees waiting events
    import time

    time.sleep(0.05)
    assert up2.step() is not None
    up2.close()


def test_refused_candidate_leaves_champion_and_next_cycle_restarts_from_it(world, tmp_path) -> None:
    reg, _store, up = _fresh(world, tmp_path, every_events=100, guard="rmse<=-10")
    c1 = up.step(force=True)
    assert c1 is not None and not c1.promoted and "rmse" in c1.reason
    assert reg.aliases["champion"] == 1
    c2 = up.step(force=True)
    refusals = [r for r in reg.audit() if r["action"] == "refuse"]
    assert len(refusals) == 1 and refusals[0]["checks"][0]["candidate"] is not None
    assert c2 is None  # refused on these events: no retry until new ones arrive
    store = EventStore(up.store.url)
    store.append([{"user_id": 1, "item_id": 1, "value": 4.0, "timestamp": 2_000_000_000}])
    c3 = up.step(force=True)
    assert c3 is not None and not c3.promoted and c3.first_seq == 1  # relearned once, from v1
    assert reg.resolve(c3.version).parent == 1
    assert len(up.run_once()) <= 1  # stops at a refusal instead of looping
    up.close()


def test_guard_none_promotes_every_verified_candidate(world, tmp_path) -> None:
    reg, _store, up = _fresh(world, tmp_path, every_events=100, guard="none")
    cycles = up.run_once()
    assert cycles and all(c.promoted for c in cycles)
    assert all(r["forced"] for r in reg.audit()[1:])
    up.close()


def test_one_updater_per_registry(world, tmp_path) -> None:
    reg, store, up = _fresh(world, tmp_path)
    up.step(force=True)
    other = Updater(reg, store)
    with pytest.raises(RegistryError, match=r"updater\.lock"):
        other.step(force=True)
    up.close()
    assert other.step(force=True) is not None
    other.close()


def test_retrain_policy_covers_the_whole_log(world, tmp_path) -> None:
    reg, _store, up = _fresh(world, tmp_path, policy="retrain", base_data=world["old"])
    cycle = up.step(force=True)
    info = reg.resolve(cycle.version)
    assert info.events["first_seq"] == 1 and info.metrics["update"]["policy"] == "retrain"
    assert check_lineage(reg) == []
    model = reg.load(cycle.version)
    assert model.fit_info_["n_interactions"] == len(world["old"]) + cycle.events
    up.close()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"policy": "nightly"}, "policy"),
        ({"holdout": 0.0}, "holdout"),
        ({"every_events": 0}, "every_events"),
        ({"strategy": "l2sp=0.1"}, "finetune"),
        ({"guard": "rmse<=banana"}, "guard|rmse"),
    ],
)
def test_bad_settings_are_errors(world, tmp_path, kw, match) -> None:
    reg = Registry.init(tmp_path / "reg", world["root"] / "svd")
    with pytest.raises(ConfigError, match=match):
        Updater(reg, f"sqlite:///{tmp_path / 'ev.db'}", **kw)


def test_finetune_policy_with_a_strategy(world, tmp_path) -> None:
    reg, _store, up = _fresh(world, tmp_path, policy="finetune", strategy="l2sp=0.1")
    cycle = up.step(force=True)
    assert cycle.policy == "finetune" and reg.resolve(cycle.version).parent == 1
    up.close()


def test_cli_once_json(world, tmp_path) -> None:
    reg, store, up = _fresh(world, tmp_path)
    up.close()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rectune.cli.main",
            "updater",
            "--registry",
            str(reg.root),
            "--store",
            store.url,
            "--once",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert rows and rows[-1]["last_seq"] == store.count()["last_seq"]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "rectune.cli.main",
            "updater",
            "--registry",
            str(reg.root),
            "--store",
            store.url,
            "--policy",
            "hourly",
            "--once",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "policy" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_kill_9_crash_loop_exactly_once(tmp_path) -> None:
    cfg = setup(tmp_path)
    res = crash_loop(cfg, kills=3, seed=1, min_wait=1.0, max_wait=2.5)
    summary = audit(cfg)
    assert res["kills"] == 3 and summary["events"] > 200
    assert summary["learned_weight"] == cfg["base_weight"] + summary["events"]


def test_updater_on_both_backends(world, tmp_path, new_store_url) -> None:
    reg = Registry.init(tmp_path / "reg", world["root"] / "svd")
    store = EventStore(new_store_url())
    store.append(_columns(world["new"]))
    store.append_items([{"item_id": 10_001, "text": "a brand new film | Drama"}])
    up = Updater(reg, store, every_events=500)
    cycles = up.run_once()
    assert cycles and check_lineage(reg) == []
    assert up.consumed_seq(reg.aliases["champion"]) == store.last_seq
    assert sum(c.events for c in cycles) == len(world["new"])
    up.close()
    store.close()


def test_items_with_text_are_recommendable_before_any_event(world, tmp_path) -> None:
    reg = Registry.init(tmp_path / "reg", world["root"] / "svd")
    store = EventStore(f"sqlite:///{tmp_path / 'ev.db'}")
    known = world["old"].item_text
    twin = known.index[0]
    store.append_items([{"item_id": 10_001, "text": known.loc[twin]}])  # no event touches it
    store.append(_columns(world["new"].subset(np.arange(200))))
    up = Updater(reg, store, base_data=world["old"])
    cycles = up.run_once()
    assert cycles[0].new_items_from_text == 1
    champion = reg.load("champion")
    assert 10_001 in set(champion.item_map_.ids.tolist())
    scores = champion.predict([world["old"].user_ids[0]], [10_001])
    assert np.isfinite(scores).all()
    up.close()


def test_run_retries_failed_steps_with_doubling_backoff(world, tmp_path) -> None:
    _, _, up = _fresh(world, tmp_path, every_events=500)
    real, failures = up.step, iter([OSError("disk"), OSError("disk")])

    def flaky(**kw):
        exc = next(failures, None)
        if exc is not None:
            raise exc
        return real(**kw)

    up.step = flaky  # type: ignore[method-assign]
    waits, seen = [], []
    up.run(max_cycles=2, on_cycle=seen.append, on_error=lambda e, b: waits.append(b) or 0.0)
    assert waits == [1.0, 2.0] and len([c for c in seen if c is not None]) == 2
    with pytest.raises(OSError):  # without on_error a failure propagates
        up.step = lambda **kw: (_ for _ in ()).throw(OSError("disk"))  # type: ignore[method-assign]
        up.run(max_cycles=1)


def test_item_text_catalogue_reads_only_new_records(tmp_path) -> None:
    import pandas as pd

    from rectune.online._catalogue import ItemTextCatalogue

    store = EventStore(f"sqlite:///{tmp_path / 'ev.db'}")
    store.append_items([{"item_id": "a", "text": "old a"}, {"item_id": "b", "text": "b"}])
    import dataclasses

    base = generate(30, 40, 200, seed=0, with_features=False)
    base = dataclasses.replace(base, item_text=pd.Series({"a": "base a", "z": "base z"}))
    cat = ItemTextCatalogue(store, base)
    asked = []
    real = store.items
    store.items = lambda after=0: (asked.append(after), real(after))[1]  # type: ignore[method-assign]
    assert cat.text().to_dict() == {"z": "base z", "a": "old a", "b": "b"}
    store.append_items([{"item_id": "a", "text": "new a"}])
    assert cat.text().to_dict() == {"z": "base z", "b": "b", "a": "new a"}
    assert asked[0] == 0 and asked[1] > 0 and len(cat.text()) == 3


def test_events_stored_while_a_refused_cycle_ran_are_tried_next(world, tmp_path) -> None:
    """A refusal waits for events beyond the refused candidate's, not beyond the store's last:
    events that arrived during the refused cycle get their own cycle without waiting for more."""
    reg = Registry.init(tmp_path / "reg", world["root"] / "svd")
    store = EventStore(f"sqlite:///{tmp_path / 'ev.db'}")
    cols = _columns(world["new"])
    half = len(world["new"]) // 2
    store.append({k: v[:half] for k, v in cols.items()})
    up = Updater(reg, store, every_events=100)
    real = reg.promote
    calls = []

    def refuse_while_more_arrive(version, **kw):
        calls.append(version)
        if len(calls) == 1:
            store.append({k: v[half:] for k, v in cols.items()})  # arrive mid-cycle
            return real(version, alias=kw["alias"], guard="rmse<=-10", data=kw["data"])
        return real(version, **kw)

    reg.promote = refuse_while_more_arrive  # type: ignore[method-assign]
    first = up.step()
    assert first is not None and not first.promoted and first.last_seq < store.last_seq
    second = up.step()  # no new event since: the mid-cycle ones are still untried
    assert second is not None and second.last_seq > first.last_seq

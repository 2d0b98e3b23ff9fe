"""Micro-batch updates of artifacts: lineage, batching, and nothing written on bad events."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, DataError
from rectune.models import create_model
from rectune.online.updater import MicroBatchUpdater, update_artifact
from rectune.registry import load_model
from rectune.testing import low_rank


@pytest.fixture()
def parent(tmp_path) -> str:
    path = tmp_path / "v1"
    create_model("baseline").fit(low_rank(n_users=30, n_items=20, density=0.5)).save(str(path))
    return str(path)


def events(n: int = 12) -> Interactions:
    rng = np.random.default_rng(0)
    users = rng.choice([0, 1, 2, 9001, 9002], size=n)
    items = rng.choice([1000, 1001, 1002, 5555], size=n)
    return Interactions.from_raw(users, items, rng.uniform(1, 5, n), np.arange(n)[::-1])


def test_update_writes_child_naming_parent(parent, tmp_path) -> None:
    out = tmp_path / "v2"
    before = sorted(p.name for p in (tmp_path / "v1").iterdir())
    res = update_artifact(parent, events(), out, batch_size=5)
    assert res.batches == 3 and res.events == 12 and res.new_users == 2 and res.new_items == 1
    lineage = json.loads((out / "lineage.json").read_text())
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    assert lineage["parent"]["id"] == manifest["id"] == res.parent["id"]
    assert lineage["strategy"]["method"] == "partial_fit" and lineage["strategy"]["batches"] == 3
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == before
    child = load_model(out)
    assert 9001 in child.user_map_ and 5555 in child.item_map_
    assert 9001 not in load_model(parent).user_map_


def test_micro_batches_are_counted_and_timed(parent) -> None:
    up = MicroBatchUpdater(load_model(parent), batch_size=4)
    res = up.update(events())
    assert res.batches == 3 and len(res.batch_seconds) == 3


def test_bad_events_write_nothing(parent, tmp_path) -> None:
    out = tmp_path / "v2"
    bad = events()
    bad.values[3] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        update_artifact(parent, bad, out)
    assert not out.exists()
    with pytest.raises(DataError, match="no events"):
        update_artifact(parent, events().subset(np.zeros(0, dtype=int)), out)
    implicit = events()
    implicit.kind = "weight"
    with pytest.raises(DataError, match="weight values"):
        update_artifact(parent, implicit, out)
    assert not out.exists()


def test_out_must_not_be_the_parent(parent) -> None:
    with pytest.raises(ConfigError, match="is the parent artifact"):
        update_artifact(parent, events(), parent)
    load_model(parent)  # still intact


def test_bad_batch_size(parent) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        MicroBatchUpdater(load_model(parent), batch_size=0)

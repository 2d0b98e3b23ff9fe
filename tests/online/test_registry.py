"""The model registry: versions, lineage, aliases, guarded promotion, rollback, gc, recovery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rectune.errors import ArtifactError, ConfigError, RegistryError
from rectune.online import Registry, parse_guard
from tests.online.registry_fixtures import leftovers, snapshot, split_data, train_svd

LIST_KEYS = {"version", "aliases", "parent", "created_at", "events", "metrics", "guard"}


@pytest.fixture(scope="module")
def arts(tmp_path_factory):
    """A good SVD, a better-or-equal copy of it, and a poor one (2 epochs), plus held-out data."""
    root = tmp_path_factory.mktemp("arts")
    train, test = split_data()
    train_svd(train, root / "good")
    train_svd(train, root / "poor", epochs=1)
    return {"good": root / "good", "poor": root / "poor", "train": train, "test": test}


@pytest.fixture()
def reg(arts, tmp_path) -> Registry:
    return Registry.init(tmp_path / "reg", arts["good"])


def test_init_add_and_list(reg, arts) -> None:
    v2 = reg.add(arts["poor"], parent=1, events=(1, 100), metrics={"rmse": 1.5})
    v3 = reg.add(arts["good"], events={"first_seq": 101, "last_seq": 200, "count": 90})
    assert (v2, v3) == (2, 3)
    rows = reg.list()
    assert [set(r) for r in rows] == [LIST_KEYS] * 3
    assert rows[0]["aliases"] == ["champion"] and rows[0]["events"] is None
    assert rows[1]["events"] == {"first_seq": 1, "last_seq": 100, "count": 100}
    assert rows[1]["parent"] == 1 and rows[1]["metrics"] == {"rmse": 1.5}
    assert rows[2]["events"]["count"] == 90 and rows[2]["parent"] is None
    assert Registry(reg.root).list() == rows
    assert json.loads(json.dumps(rows)) == rows  # JSON-clean


def test_parent_from_lineage_and_bad_parent(reg, arts, tmp_path) -> None:
    child = tmp_path / "child"
    model = reg.load("champion")
    model.save(child, parent=reg.resolve(1).path)
    assert reg.resolve(reg.add(child)).parent == 1
    with pytest.raises(RegistryError, match="no version 9"):
        reg.add(child, parent=9)
    with pytest.raises(ConfigError, match="first_seq"):
        reg.add(child, events=(5, 2))


def test_add_refuses_a_broken_artifact_and_leaves_nothing(reg, arts, tmp_path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(arts["good"], broken)
    (broken / "params.npz").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="checksum"):
        reg.add(broken)
    assert [v.version for v in reg.versions] == [1] and not leftovers(reg.root)


def test_guard_refusal_keeps_alias_and_records_both_values(reg, arts) -> None:
    v2 = reg.add(arts["poor"], parent=1)
    res = reg.promote(v2, guard="rmse<=+0.005", data=arts["test"])
    assert not res.accepted and reg.aliases == {"champion": 1}
    (check,) = res.checks
    assert check.metric == "rmse" and check.candidate > check.current + 0.005
    assert "rmse" in res.reason and f"{check.candidate:.6g}" in res.reason
    assert f"{check.current:.6g}" in res.reason and "\n" not in res.reason
    rec = reg.audit()[-1]
    assert rec["action"] == "refuse" and rec["from"] == 1 and rec["to"] == v2
    assert rec["checks"][0]["candidate"] == check.candidate
    assert rec["checks"][0]["current"] == check.current
    assert Registry(reg.root).aliases == {"champion": 1}


def test_guard_pass_moves_alias_and_several_rules(reg, arts) -> None:
    v2 = reg.add(arts["good"], parent=1)
    res = reg.promote(v2, guard="rmse<=+0.001, ndcg@5>=-0.01", data=arts["test"])
    assert res.accepted and reg.aliases == {"champion": v2} and len(res.checks) == 2
    assert reg.history() == [1]
    assert reg.list()[1]["guard"]["guard"] == "rmse<=+0.001,ndcg@5>=-0.01"


def test_default_guard_with_data_is_not_worse(reg, arts) -> None:
    v2 = reg.add(arts["poor"])
    res = reg.promote(v2, data=arts["test"])
    assert not res.accepted and res.guard == "rmse<=+0"


def test_force_skips_accuracy_but_never_verification(reg, arts, tmp_path) -> None:
    v2 = reg.add(arts["poor"])
    assert reg.promote(v2, guard="rmse<=+0", data=arts["test"], force=True).accepted
    nan = tmp_path / "nan"
    model = reg.load(1)
    model.item_factors_[0, 0] = np.nan
    model.save(nan)
    v3 = reg.add(nan)
    res = reg.promote(v3, force=True)
    assert not res.accepted and "non-finite" in res.reason and reg.aliases["champion"] == v2


def test_guard_needs_data(reg, arts) -> None:
    v2 = reg.add(arts["good"])
    with pytest.raises(ConfigError, match="held-out"):
        reg.promote(v2, guard="rmse<=+0.01")


@pytest.mark.parametrize(
    "expr, match",
    [
        ("rmse<0.1", "expected METRIC"),
        ("rmse<=abc", "not a finite number"),
        ("rmse<=nan", "not a finite number"),
        ("rmse>=-0.1", "lower rmse is better"),
        ("ndcg@10<=+0.1", "higher ndcg@10 is better"),
        ("bogus<=0.1", "unknown metric"),
        ("ndcg<=0.1", "cut-off"),
        ("coverage@10>=0", "compares no predictions"),
        ("", "empty"),
        ("rmse<=0.1,,ndcg@10>=x", "not a finite number"),
    ],
)
def test_bad_guard_is_one_line_config_error(expr, match) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_guard(expr)
    assert "\n" not in str(info.value)


def test_rollback_is_repeatable_and_stops(reg, arts) -> None:
    v2, v3 = reg.add(arts["good"]), reg.add(arts["good"])
    reg.promote(v2)
    reg.promote(v3)
    assert reg.history() == [1, v2]
    assert reg.rollback().to_version == v2 and reg.rollback().to_version == 1
    with pytest.raises(RegistryError, match="no previous target"):
        reg.rollback()
    with pytest.raises(RegistryError, match="no alias 'nope'"):
        reg.rollback("nope")
    actions = [r["action"] for r in reg.audit()]
    assert actions == ["promote", "promote", "promote", "rollback", "rollback"]


def test_rollback_to_a_corrupted_target_is_refused(reg, arts) -> None:
    v2 = reg.add(arts["good"])
    reg.promote(v2)
    (reg.resolve(1).path / "ids.json").write_text("{}")
    res = reg.rollback()
    assert not res.accepted and "checksum" in res.reason and reg.aliases == {"champion": v2}
    assert reg.audit()[-1]["action"] == "rollback-refused"


def test_aliases_are_independent(reg, arts) -> None:
    v2 = reg.add(arts["poor"])
    assert reg.promote(v2, alias="challenger").accepted  # no current target: nothing to beat
    assert reg.aliases == {"champion": 1, "challenger": v2}
    with pytest.raises(ConfigError, match="alias"):
        reg.promote(v2, alias="bad name")


def test_gc_keeps_aliased_and_rollback_targets(reg, arts) -> None:
    for _ in range(6):
        reg.add(arts["good"])
    reg.promote(2)
    reg.promote(3, alias="challenger")
    assert reg.gc(keep=2) == [4, 5]
    assert [v.version for v in reg.versions] == [1, 2, 3, 6, 7]
    assert reg.add(arts["good"]) == 8  # numbers are never reused
    assert reg.rollback().to_version == 1
    assert reg.gc(keep=1) == [2, 6, 7]  # 2 was champion's only rollback target, now current
    assert Registry(reg.root).list() == reg.list()
    with pytest.raises(ConfigError, match="at least 1"):
        reg.gc(keep=0)


def test_gc_trims_old_rollback_history(reg, arts) -> None:
    for v in range(2, 6):
        reg.add(arts["good"])
        reg.promote(v)
    assert reg.history() == [1, 2, 3, 4]
    assert reg.gc(keep=2) == [1, 2]
    assert reg.history() == [3, 4] and reg.audit()[-1]["deleted"] == [1, 2]


# ------------------------------------------------------------------ recovery at open
def test_torn_audit_line_is_dropped_at_open(reg) -> None:
    before = snapshot(reg)
    with (reg.root / "audit.jsonl").open("a") as fh:
        fh.write('{"seq": 2, "action": "pro')
    assert snapshot(Registry(reg.root)) == before
    assert (reg.root / "audit.jsonl").read_text().endswith("}\n")


def test_committed_record_missing_from_log_is_reappended(reg, arts) -> None:
    reg.add(arts["good"])
    reg.promote(2)
    full = snapshot(reg)
    lines = (reg.root / "audit.jsonl").read_text().splitlines(keepends=True)
    (reg.root / "audit.jsonl").write_text("".join(lines[:-1]))
    assert snapshot(Registry(reg.root)) == full


def test_leftovers_of_interrupted_changes_are_cleaned(reg, arts) -> None:
    before = snapshot(reg)
    shutil.copytree(arts["good"], reg.root / "versions" / ".tmp-2.abcd")
    (reg.root / ".tmp-state.json.1234").write_text("{")
    gone = reg.root / "versions" / "1"
    assert snapshot(Registry(reg.root)) == before and not leftovers(reg.root) and gone.exists()


def test_interrupted_gc_is_finished_at_open(reg, arts) -> None:
    reg.add(arts["good"])
    reg.add(arts["good"])
    saved = reg.root / "saved2"
    shutil.copytree(reg.resolve(2).path, saved)
    reg.gc(keep=1)
    shutil.copytree(saved, reg.root / "versions" / "2")  # as if the crash came before rmtree
    assert [v.version for v in Registry(reg.root).versions] == [1, 3]


@pytest.mark.parametrize("damage", ["garbage", "flip"])
def test_corrupt_state_is_a_one_line_error(reg, damage) -> None:
    path = reg.root / "state.json"
    if damage == "garbage":
        path.write_text("{nope")
    else:
        path.write_text(path.read_text().replace('"champion": 1', '"champion": 7'))
    with pytest.raises(RegistryError, match=r"state\.json") as info:
        Registry(reg.root)
    assert "\n" not in str(info.value)


def test_not_a_registry(tmp_path) -> None:
    with pytest.raises(RegistryError, match="not a registry"):
        Registry(tmp_path)


def test_init_refuses_nonempty_dir_and_bad_artifact(arts, tmp_path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(RegistryError, match="not an empty directory"):
        Registry.init(tmp_path / "full", arts["good"])
    with pytest.raises(ArtifactError):
        Registry.init(tmp_path / "r", tmp_path / "full")
    assert not (tmp_path / "r").exists()
    (tmp_path / "empty_ok").mkdir()
    assert Registry.init(tmp_path / "empty_ok", arts["good"]).aliases == {"champion": 1}


def test_add_with_move_removes_the_source_once_published(reg, arts, tmp_path) -> None:
    src = tmp_path / "src"
    shutil.copytree(arts["good"], src)
    v = reg.add(src, move=True)
    assert not src.exists() and reg.verify(v) is not None


def test_version_directories_hold_the_artifact(reg, arts) -> None:
    files = {p.name for p in Path(arts["good"]).iterdir()}
    assert files | {"version.json"} == {p.name for p in reg.resolve(1).path.iterdir()}
    pred = reg.load().predict(arts["test"].user_ids[:5], arts["test"].item_ids[:5])
    from rectune.registry import load_model

    assert np.allclose(
        pred, load_model(arts["good"]).predict(arts["test"].user_ids[:5], arts["test"].item_ids[:5])
    )

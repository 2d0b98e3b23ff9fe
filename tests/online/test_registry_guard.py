"""The guard: degraded candidates are all refused, with their metrics; the champion serves on.

Each candidate is damaged in a different way, some caught by verification (checksums, shapes,
finite parameters, a readable model) and some only by accuracy on held-out events. Damage to
files is followed by a fresh manifest (`rehash`) where the point is to get past the checksums.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rectune.errors import ArtifactError
from rectune.online import Registry
from rectune.registry import load_model
from tests.online.registry_fixtures import rehash, split_data, train_svd

GUARD = "rmse<=+0.005,ndcg@10>=-0.02"


def _edit(attr: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path, Path], None]:
    def make(champion: Path, out: Path) -> None:
        model = load_model(champion)
        setattr(model, attr, fn(np.array(getattr(model, attr), copy=True)))
        model.save(out)

    return make


def _shuffle(a: np.ndarray) -> np.ndarray:
    return a[np.random.default_rng(1).permutation(len(a))]


def _nan(a: np.ndarray) -> np.ndarray:
    a[3] = np.nan
    return a


def _inf(a: np.ndarray) -> np.ndarray:
    a[0] = np.inf
    return a


def _files(change: Callable[[Path], None], fresh_manifest: bool) -> Callable[[Path, Path], None]:
    def make(champion: Path, out: Path) -> None:
        shutil.copytree(champion, out)
        change(out)
        if fresh_manifest:
            rehash(out)

    return make


def _flip_params(path: Path) -> None:
    raw = bytearray((path / "params.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (path / "params.npz").write_bytes(bytes(raw))


def _truncate_params(path: Path) -> None:
    raw = (path / "params.npz").read_bytes()
    (path / "params.npz").write_bytes(raw[: len(raw) // 3])


def _wrong_shape(path: Path) -> None:
    with np.load(path / "params.npz") as npz:
        state = {k: npz[k] for k in npz.files}
    state["item_factors"] = state["item_factors"][:-1]
    with (path / "params.npz").open("wb") as fh:
        np.savez(fh, **state)


def _unknown_model(path: Path) -> None:
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"] = "no-such-model"
    (path / "config.json").write_text(json.dumps(cfg))


def _one_percent(champion: Path, out: Path) -> None:
    train, _ = split_data()
    rows = np.random.default_rng(2).choice(len(train), size=len(train) // 100, replace=False)
    train_svd(train.subset(np.sort(rows)), out)


def _other_data(champion: Path, out: Path) -> None:
    train, _ = split_data(seed=7)  # same ids, other tastes
    train_svd(train, out)


#: name -> (how to make it, what the refusal must mention)
DEGRADED: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "shuffled item factors": (_edit("item_factors_", _shuffle), "rmse"),
    "shuffled user factors": (_edit("user_factors_", _shuffle), "rmse"),
    "NaN weights": (_edit("item_factors_", _nan), "non-finite"),
    "infinite bias": (_edit("user_bias_", _inf), "non-finite"),
    "wrong shapes": (_files(_wrong_shape, True), "item_factors"),
    "trained on 1% of the data": (_one_percent, "rmse"),
    "corrupted params file": (_files(_flip_params, False), "checksum mismatch"),
    "truncated params, fresh manifest": (_files(_truncate_params, True), "params.npz"),
    "unknown model class": (_files(_unknown_model, True), "no-such-model"),
    "trained on other users' tastes": (_other_data, "rmse"),
    "biases shifted by +1": (_edit("item_bias_", lambda a: a + 1.0), "rmse"),
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    train, test = split_data()
    train_svd(train, root / "champion")
    reg = Registry.init(root / "reg", root / "champion")
    return root, reg, test


def test_ten_degraded_candidates_are_all_refused(setup) -> None:
    root, reg, test = setup
    champion = reg.load()
    users, items = test.user_ids, test.item_ids
    before = champion.predict(users, items)
    outcomes = {}
    for k, (name, (make, needle)) in enumerate(DEGRADED.items()):
        out = root / f"cand{k}"
        make(root / "champion", out)
        if needle == "checksum mismatch":
            with pytest.raises(ArtifactError, match=needle):  # refused on the way in
                reg.add(out)
            v = reg.add(root / "champion", parent=1)  # and rotten inside the registry
            _flip_params(reg.resolve(v).path)
        else:
            v = reg.add(out, parent=1)
        res = reg.promote(v, guard=GUARD, data=test)
        assert not res.accepted, f"{name} was promoted: {res.checks}"
        assert needle in res.reason, f"{name}: {res.reason}"
        assert reg.aliases == {"champion": 1}, name
        if needle == "rmse":  # refused on accuracy: both values recorded
            failed = [c for c in res.checks if not c.passed]
            assert failed and all(c.candidate is not None and c.current is not None for c in failed)
            rec = reg.audit()[-1]
            assert rec["action"] == "refuse" and rec["checks"] == [
                {**c.__dict__} for c in res.checks
            ]
        outcomes[name] = res.reason
    assert len(outcomes) >= 10
    again = Registry(reg.root)
    assert again.aliases == {"champion": 1} and again.history() == []
    assert np.array_equal(again.load().predict(users, items), before)
    print("\n".join(f"{k}: {v}" for k, v in outcomes.items()))


def test_a_healthy_retrain_still_passes(setup) -> None:
    root, reg, test = setup
    train, _ = split_data()
    train_svd(train, root / "retrain", seed=0)
    v = reg.add(root / "retrain", parent=1)
    res = reg.promote(v, guard=GUARD, data=test)
    assert res.accepted, res.checks
    assert reg.rollback().to_version == 1


def test_incumbent_is_verified_once_until_its_files_change(tmp_path, monkeypatch) -> None:
    import rectune.online.registry as registry_module

    train, test = split_data()
    train_svd(train, tmp_path / "champion")
    train_svd(train, tmp_path / "cand", seed=1)
    reg = Registry.init(tmp_path / "reg", tmp_path / "champion")
    calls: list[str] = []
    real = registry_module.verify_artifact
    monkeypatch.setattr(
        registry_module, "verify_artifact", lambda p: (calls.append(str(p)), real(p))[1]
    )
    incumbent = str(reg.resolve(1).path)
    for _ in range(2):  # two refused cycles checked against the same incumbent
        v = reg.add(tmp_path / "cand", parent=1)
        assert not reg.promote(v, guard="rmse<=-1.0", data=test).accepted
    assert calls.count(incumbent) == 1
    _flip_params(reg.resolve(1).path)  # a damaged incumbent is noticed: verified again
    v = reg.add(tmp_path / "cand", parent=1)
    res = reg.promote(v, guard="rmse<=+1.0", data=test)
    assert calls.count(incumbent) == 2 and res.accepted  # no incumbent: nothing to compare

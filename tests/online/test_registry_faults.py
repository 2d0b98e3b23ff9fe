"""I/O faults: every registry change under an EIO from the N-th fsync / replace / rename / write.

For each change and each faulting call N = 1, 2, ... (until N passes the calls the change
makes), the change runs on a fresh copy of a registry with that call raising ``OSError(EIO)``.
The error must be reported (a `RegistryError`), and the registry reopened afterwards must show
exactly the old state or exactly the new one (the one a fault-free run produces), with no
temporary left over; the object that saw the error must show the same as a fresh open.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rectune.errors import RegistryError
from rectune.online import Registry
from tests.online.registry_fixtures import leftovers, snapshot, split_data, train_svd

FAULTS = ("fsync", "replace", "rename", "write")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("faults")
    train, test = split_data()
    train_svd(train, root / "good")
    train_svd(train, root / "poor", epochs=1)
    reg = Registry.init(root / "template", root / "good")
    reg.add(root / "good", parent=1)  # 2: passes the guard
    reg.add(root / "poor", parent=1)  # 3: fails it
    reg.add(root / "good", parent=1)  # 4
    reg.promote(4)  # champion 4, history [1]
    return {"root": root, "test": test}


OPS: dict[str, Callable[[Registry, dict[str, Any]], Any]] = {
    "add": lambda r, w: r.add(w["root"] / "good", parent=4, events=(1, 50)),
    "promote": lambda r, w: r.promote(2, guard="rmse<=+0.01", data=w["test"]),
    "refuse": lambda r, w: r.promote(3, guard="rmse<=+0.01", data=w["test"]),
    "rollback": lambda r, w: r.rollback(),
    "gc": lambda r, w: r.gc(keep=1),
}


class Faults:
    """Make the ``n``-th call of ``os.<name>`` raise EIO (counting from 1)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, n: int) -> None:
        self.calls = 0
        real = getattr(os, name)

        def faulty(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == n:
                raise OSError(errno.EIO, f"injected EIO on {name} call {n}")
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, faulty)


def _fresh(world: dict[str, Any], name: str) -> Path:
    dst = world["root"] / name
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(world["root"] / "template", dst)
    return dst


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("op", sorted(OPS))
def test_change_under_io_faults_leaves_old_or_new_state(world, monkeypatch, op, fault) -> None:
    old = snapshot(Registry(world["root"] / "template"))
    clean = Registry(_fresh(world, "clean"))
    OPS[op](clean, world)
    new = snapshot(Registry(clean.root))
    assert new != old
    seen = {"old": 0, "new": 0}
    for n in range(1, 200):
        path = _fresh(world, "victim")
        reg = Registry(path)
        with monkeypatch.context() as m:
            faults = Faults(m, fault, n)
            try:
                OPS[op](reg, world)
                failed = False
            except RegistryError as exc:
                failed = True
                assert "injected EIO" in str(exc) and "\n" not in str(exc)
        after = snapshot(Registry(path))
        assert after in (old, new), f"{op} with {fault} #{n} failing left a mixed state"
        assert not leftovers(path), f"{op} with {fault} #{n}: {leftovers(path)}"
        assert snapshot(reg) == after  # the object that saw the error re-read the disk
        if not failed:
            assert faults.calls < n and after == new
            break
        seen["old" if after == old else "new"] += 1
    else:
        pytest.fail(f"{op} still failing after 200 injected {fault} faults")
    if fault in ("fsync", "write") or (fault, op) in {("replace", "promote")}:
        assert seen["old"] >= 1  # the fault hit before the commit at least once
    print(f"{op}/{fault}: {n - 1} faulting calls, old state {seen['old']}x, new {seen['new']}x")


@pytest.mark.parametrize("fault", FAULTS)
def test_init_under_io_faults_leaves_nothing_or_a_registry(world, monkeypatch, fault) -> None:
    for n in range(1, 200):
        target = world["root"] / "init" / f"r{fault}{n}"
        with monkeypatch.context() as m:
            faults = Faults(m, fault, n)
            try:
                Registry.init(target, world["root"] / "good")
                failed = False
            except RegistryError as exc:
                failed = True
                assert "injected EIO" in str(exc)
        if target.exists():
            assert Registry(target).aliases == {"champion": 1} and not leftovers(target)
        else:
            assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]
        if not failed:
            assert faults.calls < n
            break

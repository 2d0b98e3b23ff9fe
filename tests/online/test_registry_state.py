"""A hypothesis state machine of the registry against a plain in-memory model of it.

Rules: add a good or a poor version (with a parent), promote it to ``champion`` or
``challenger`` through a guard that passes or fails, roll back, gc, corrupt a version's file,
tear the audit log as a crash mid-append would, and reopen. Invariants: every alias points at a
version that verifies, lineage is acyclic, the state reopened from disk is identical to the
state in memory, and gc never removes an aliased version or a rollback target.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from rectune.errors import RegistryError
from rectune.online import Registry
from tests.online.registry_fixtures import snapshot, split_data, train_svd

GUARD = "rmse<=+0.01"


class RegistryMachine(RuleBasedStateMachine):
    arts: dict[str, Any]  # set by the test: artifact paths and held-out data

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="regsm-"))
        self.reg = Registry.init(self.tmp / "reg", self.arts["good"])
        self.kind = {1: "good"}  # version -> good | poor
        self.parent: dict[int, int | None] = {1: None}
        self.corrupt: set[int] = set()
        self.aliases = {"champion": 1}
        self.history: dict[str, list[int]] = {}
        self.deleted: set[int] = set()

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _live(self) -> list[int]:
        return sorted(self.kind)

    # ------------------------------------------------------------------ rules
    @rule(
        kind=st.sampled_from(["good", "poor"]), pick=st.integers(0, 50), with_parent=st.booleans()
    )
    def add(self, kind: str, pick: int, with_parent: bool) -> None:
        live = self._live()
        parent = live[pick % len(live)] if with_parent else None
        n = self.reg.add(self.arts[kind], parent=parent, events=(pick, pick + 10))
        assert n == max([*self.kind, *self.deleted]) + 1
        self.kind[n], self.parent[n] = kind, parent

    @rule(
        pick=st.integers(0, 50),
        alias=st.sampled_from(["champion", "challenger"]),
        guarded=st.booleans(),
    )
    def promote(self, pick: int, alias: str, guarded: bool) -> None:
        live = self._live()
        v = live[pick % len(live)]
        cur = self.aliases.get(alias)
        res = self.reg.promote(
            v,
            alias=alias,
            guard=GUARD if guarded else None,
            data=self.arts["test"] if guarded else None,
        )
        worse = cur is not None and self.kind[v] == "poor" and self.kind[cur] == "good"
        expect = v not in self.corrupt and not (guarded and cur != v and worse)
        assert res.accepted == expect, res.reason
        if not expect:
            assert res.reason and (v in self.corrupt or "rmse" in res.reason)
            if v not in self.corrupt:
                (check,) = res.checks
                assert check.candidate is not None and check.current is not None
            return
        if cur is not None and cur != v:
            self.history.setdefault(alias, []).append(cur)
        self.aliases[alias] = v

    @rule(alias=st.sampled_from(["champion", "challenger"]))
    def rollback(self, alias: str) -> None:
        hist = self.history.get(alias, [])
        if alias not in self.aliases or not hist:
            with pytest.raises(RegistryError):
                self.reg.rollback(alias)
            return
        res = self.reg.rollback(alias)
        assert res.accepted == (hist[-1] not in self.corrupt)
        if res.accepted:
            self.aliases[alias] = hist.pop()

    @rule(keep=st.integers(1, 3))
    def gc(self, keep: int) -> None:
        self.history = {a: h[-keep:] for a, h in self.history.items()}
        kept = set(self._live()[-keep:]) | set(self.aliases.values())
        kept |= {v for h in self.history.values() for v in h}
        doomed = sorted(set(self.kind) - kept)
        assert self.reg.gc(keep) == doomed
        for v in doomed:
            del self.kind[v]
            self.deleted.add(v)

    @precondition(lambda self: set(self.kind) - set(self.aliases.values()))
    @rule(pick=st.integers(0, 50), name=st.sampled_from(["params.npz", "ids.json"]))
    def corrupt_a_file(self, pick: int, name: str) -> None:
        free = sorted(set(self.kind) - set(self.aliases.values()))
        v = free[pick % len(free)]
        path = self.reg.resolve(v).path / name
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] = (raw[len(raw) // 2] + 1) % 256  # never undone by a second hit
        path.write_bytes(bytes(raw))
        self.corrupt.add(v)

    @rule(junk=st.sampled_from(['{"seq": 99, "act', "{", '{"seq"']))
    def crash_mid_append(self, junk: str) -> None:
        with (self.reg.root / "audit.jsonl").open("a") as fh:
            fh.write(junk)
        self.reopen()

    @rule()
    def reopen(self) -> None:
        self.reg = Registry(self.reg.root)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def matches_the_model(self) -> None:
        assert self.reg.aliases == self.aliases
        assert [v.version for v in self.reg.versions] == self._live()
        for alias in {*self.aliases, *self.history}:
            assert self.reg.history(alias) == self.history.get(alias, [])

    @invariant()
    def aliases_point_at_verifying_versions(self) -> None:
        for alias in self.aliases:
            self.reg.verify(alias)

    @invariant()
    def lineage_is_acyclic(self) -> None:
        parents = {v.version: v.parent for v in self.reg.versions}
        assert parents == {v: self.parent[v] for v in self._live()}
        for v in parents:
            seen = set()
            while v is not None and v in parents:
                assert v not in seen
                seen.add(v)
                p = parents[v]
                assert p is None or p < v
                v = p

    @invariant()
    def history_is_the_audit_log_replayed(self) -> None:
        """The rollback stacks in the state are what the audit log says happened."""
        replay: dict[str, list[int]] = {}
        for rec in self.reg.audit():
            if rec["action"] == "promote" and rec["from"] not in (None, rec["to"]):
                replay.setdefault(rec["alias"], []).append(rec["from"])
            elif rec["action"] == "rollback":
                assert replay[rec["alias"]].pop() == rec["to"]
            elif rec["action"] == "gc":
                replay = {a: h[-rec["keep"] :] for a, h in replay.items()}
        state = self.reg.files.state["history"]
        assert {a: h for a, h in replay.items() if h} == {a: h for a, h in state.items() if h}

    @invariant()
    def reopened_state_is_identical(self) -> None:
        assert snapshot(Registry(self.reg.root)) == snapshot(self.reg)

    @invariant()
    def rollback_targets_survive(self) -> None:
        live = set(self._live())
        assert set(self.aliases.values()) <= live
        assert {v for h in self.history.values() for v in h} <= live


@pytest.fixture(scope="module")
def arts(tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sm")
    train, test = split_data()
    train_svd(train, root / "good")
    train_svd(train, root / "poor", epochs=1)
    return {"good": root / "good", "poor": root / "poor", "test": test}


def test_registry_state_machine(arts) -> None:
    RegistryMachine.arts = arts
    run_state_machine_as_test(
        RegistryMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

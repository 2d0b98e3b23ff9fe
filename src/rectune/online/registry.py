"""`Registry`: immutable model versions, named aliases moved only through a guard, rollback, gc.

The files and their crash safety are `rectune.registry.files` (one rename commits each change);
this layer decides what may change. Before an alias moves, the candidate is verified (manifest
checksums, entries and shapes through `load_model`, every parameter finite) and, given held-out
events, scored against the alias's current target with the guard (`rectune.online.guard`): a
refused promotion leaves the alias where it was and records both metric values in the audit
log. ``force`` skips the accuracy check, never the verification. Each alias keeps the stack of
its previous targets: `rollback` moves it back one step (repeatable), `gc` keeps every aliased
version and every rollback target.

Examples
--------
>>> import tempfile, os
>>> from rectune.models.baselines import Baseline
>>> from rectune.data import Interactions
>>> data = Interactions.from_raw([1, 1, 2, 2, 3, 3], list("ababab"), [5, 3, 4, 2, 5, 1])
>>> tmp = tempfile.mkdtemp()
>>> _ = Baseline().fit(data).save(os.path.join(tmp, "a"))
>>> reg = Registry.init(os.path.join(tmp, "reg"), os.path.join(tmp, "a"))
>>> v2 = reg.add(os.path.join(tmp, "a"), parent=1)
>>> reg.promote(v2, guard="rmse<=+0.01", data=data).accepted, reg.aliases
(True, {'champion': 2})
>>> reg.rollback().to_version, reg.aliases
(1, {'champion': 1})
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from rectune.data.interactions import Interactions
from rectune.errors import ArtifactError, ConfigError, RectuneError, RegistryError
from rectune.models.base import Recommender
from rectune.online.guard import (
    GuardRule,
    Promotion,
    check_guard,
    default_guard,
    guard_text,
    parse_guard,
)
from rectune.registry.artifacts import read_json, verify_artifact
from rectune.registry.files import RegistryFiles, VersionInfo

logger = logging.getLogger(__name__)
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def _check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise ConfigError(f"alias {alias!r}: use a letter then letters, digits, '_', '.', '-'")
    return alias


def events_range(
    first_seq: int | None, last_seq: int | None, count: int | None = None
) -> dict[str, int] | None:
    """``{"first_seq", "last_seq", "count"}`` of a consumed range (None: no events)."""
    if first_seq is None and last_seq is None:
        return None
    if first_seq is None or last_seq is None:
        raise ConfigError("give both first_seq and last_seq of the consumed events, or neither")
    if not 0 <= first_seq <= last_seq:
        raise ConfigError(
            f"consumed events: need 0 <= first_seq <= last_seq, got {first_seq}..{last_seq}"
        )
    span = last_seq - first_seq + 1
    count = span if count is None else count
    if not 0 <= count <= span:  # 0: a range of item / user records only
        raise ConfigError(f"consumed events: count {count} not in 0..{span} ({first_seq}..)")
    return {"first_seq": int(first_seq), "last_seq": int(last_seq), "count": int(count)}


class Registry:
    """A model registry in the folder ``root`` (create one with `Registry.init`)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.files = RegistryFiles(root)
        self._verified: dict[int, tuple[tuple[tuple[str, int, int], ...], Recommender]] = {}
        """The last incumbent verified by `promote`, with its files' stamps."""

    @classmethod
    def init(
        cls,
        root: str | os.PathLike[str],
        artifact: str | os.PathLike[str],
        *,
        alias: str = "champion",
        metrics: dict[str, Any] | None = None,
        events: tuple[int, int] | None = None,
    ) -> Registry:
        """A new registry with ``artifact`` (verified) as version 1 and ``alias`` on it.

        ``events`` is the range of store sequence numbers the artifact already learned
        (``(first_seq, last_seq)``), so an updater starts after it.
        """
        _check_alias(alias)
        verify_artifact(artifact)
        record = Promotion("promote", alias, None, 1, reason="init").record()
        files = _io(
            "init",
            root,
            lambda: RegistryFiles.create(
                root,
                artifact,
                metrics=metrics,
                alias=alias,
                record=record,
                events=None if events is None else events_range(*events),
            ),
        )
        reg = cls.__new__(cls)
        reg.files, reg._verified = files, {}
        return reg

    # ------------------------------------------------------------------ reading
    @property
    def root(self) -> Path:
        return self.files.root

    @property
    def aliases(self) -> dict[str, int]:
        """Alias name -> version number."""
        return dict(self.files.state["aliases"])

    @property
    def versions(self) -> list[VersionInfo]:
        return list(self.files.versions.values())

    def history(self, alias: str = "champion") -> list[int]:
        """The alias's previous targets, oldest first (`rollback` moves to the last one)."""
        return list(self.files.state["history"].get(alias, []))

    def audit(self) -> list[dict[str, Any]]:
        """Every audit record: promotions, refusals, rollbacks and gcs, oldest first."""
        return [dict(r) for r in self.files.audit]

    def resolve(self, ref: int | str) -> VersionInfo:
        """A version by number, or the version an alias points at."""
        if isinstance(ref, str) and not ref.isdecimal():
            aliases = self.files.state["aliases"]
            if ref not in aliases:
                raise RegistryError(
                    f"{self.root}: no alias {ref!r} (aliases: "
                    f"{', '.join(sorted(aliases)) or 'none'})"
                )
            ref = aliases[ref]
        return self.files.version(int(ref))

    def verify(self, ref: int | str) -> Recommender:
        """Load and verify a version (checksums, shapes, finite parameters); the model."""
        info = self.resolve(ref)
        if info.error:
            raise ArtifactError(info.error)
        model: Recommender = verify_artifact(info.path)
        return model

    def _incumbent(self, version: int) -> Recommender:
        """The verified model of an alias's current target, kept while its files are unchanged.

        The updater's guard scores the incumbent every cycle; versions are immutable, so the
        model verified last time is reused unless a file's size or mtime changed (then it is
        verified again, and a damaged incumbent is noticed).
        """
        info = self.resolve(version)
        stamp = tuple(
            (p.name, st.st_size, st.st_mtime_ns)
            for p in sorted(Path(info.path).rglob("*"))
            if p.is_file() and (st := p.stat())
        )
        hit = self._verified.get(version)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        model = self.verify(version)
        self._verified = {version: (stamp, model)}
        return model

    def load(self, ref: int | str = "champion") -> Recommender:
        """The model of a version or alias, verified."""
        return self.verify(ref)

    def reload(self) -> None:
        """Re-read the registry from disk (changes by other processes, repairs)."""
        with self.files.locked():
            self.files.reload()

    def list(self) -> list[dict[str, Any]]:
        """One record per version, as ``rectune registry list --json`` prints it."""
        by_version: dict[int, list[str]] = {}
        for name, v in sorted(self.files.state["aliases"].items()):
            by_version.setdefault(v, []).append(name)
        guards: dict[int, dict[str, Any]] = {}
        for rec in self.files.audit:
            if rec.get("action") in ("promote", "refuse") and rec.get("to") is not None:
                guards[rec["to"]] = {
                    k: rec.get(k) for k in ("alias", "action", "guard", "forced", "checks", "at")
                }
        out = []
        for info in self.files.versions.values():
            row = {
                "version": info.version,
                "aliases": by_version.get(info.version, []),
                "parent": info.parent,
                "created_at": info.created_at,
                "events": info.events,
                "metrics": info.metrics,
                "guard": guards.get(info.version),
            }
            if info.error:
                row["error"] = info.error
            out.append(row)
        return out

    # ------------------------------------------------------------------ changes
    def add(
        self,
        artifact: str | os.PathLike[str],
        *,
        parent: int | str | None = "auto",
        events: dict[str, int] | tuple[int, int] | None = None,
        metrics: dict[str, Any] | None = None,
        move: bool = False,
        checksum: str | None = None,
    ) -> int:
        """Copy ``artifact`` in as a new version (no alias moves); returns its number.

        ``parent`` is a version number, None, or ``"auto"``: the version whose artifact the
        artifact's lineage names as its parent, if there is one. ``events`` is the consumed
        range (``(first_seq, last_seq)`` or a dict with ``count``). ``move`` moves the source
        in (one rename on the registry's file system, else a copy and a deletion); the
        checksums are verified where the version is assembled, unless the source was moved
        and ``checksum`` is its manifest checksum as its writer computed it over the bytes it
        wrote (`save_model` with ``durable``): then only the manifest is checked (the updater
        writes, moves and promotes its own versions; promotion verifies every file).
        """
        if isinstance(events, tuple):
            events = events_range(*events)
        elif events is not None:
            events = events_range(events["first_seq"], events["last_seq"], events.get("count"))
        with self.files.locked():
            self.files.reload()
            if parent == "auto":
                parent = self._lineage_parent(Path(artifact))
            elif parent is not None:
                parent = self.files.version(int(parent)).version
            info = self._io(
                "add a version to",
                lambda: self.files.add_version(
                    artifact,
                    parent=parent,
                    events=events,
                    metrics=metrics,
                    move=move,
                    checksum=checksum,
                ),
            )
        if move:
            shutil.rmtree(artifact, ignore_errors=True)
        return info.version

    def _lineage_parent(self, artifact: Path) -> int | None:
        try:
            lineage = read_json(artifact, "lineage.json")
        except ArtifactError:
            return None
        parent_id = (lineage.get("parent") or {}).get("id") if isinstance(lineage, dict) else None
        matches = [v.version for v in self.versions if parent_id and v.artifact_id == parent_id]
        return max(matches) if matches else None

    def promote(
        self,
        version: int,
        *,
        alias: str = "champion",
        guard: str | list[GuardRule] | None = None,
        data: Interactions | None = None,
        force: bool = False,
    ) -> Promotion:
        """Move ``alias`` to ``version`` if it verifies and passes the guard on ``data``.

        Without ``guard`` but with ``data``, the candidate must be no worse at all (RMSE, or
        NDCG@10 for ranking). Without ``data`` there is no accuracy check (a guard then is a
        ConfigError). ``force`` skips the accuracy check; verification always runs. A refusal
        is returned (``accepted`` False) and recorded with both values; the alias stays.
        ``data`` should be events neither version learned from (ranking metrics exclude the
        items a model has seen, so events it trained on would be ranked out of its lists).
        """
        _check_alias(alias)
        rules = parse_guard(guard) if isinstance(guard, str) else guard
        if rules is not None and data is None and not force:
            raise ConfigError(f"guard {guard_text(rules)} needs held-out events (pass data)")
        with self.files.locked():
            self.files.reload()
            self.files.version(version)
            current = self.files.state["aliases"].get(alias)
            result = Promotion("promote", alias, current, version, forced=force)
            try:
                candidate = self.verify(version)
            except RectuneError as exc:
                return self._refuse(result, f"version {version} does not verify: {exc}")
            if data is not None and not force and current is not None and current != version:
                rules = rules or default_guard(candidate, data)
                result.guard = guard_text(rules)
                try:
                    incumbent: Recommender | None = self._incumbent(current)
                except RectuneError as exc:
                    logger.warning("current %s target %s does not verify: %s", alias, current, exc)
                    incumbent = None
                result.checks = check_guard(rules, candidate, incumbent, data)
                failed = [c for c in result.checks if not c.passed]
                if failed:
                    return self._refuse(result, "; ".join(c.describe() for c in failed))
            elif rules is not None:
                result.guard = guard_text(rules)
            history = self.history(alias)
            if current is not None and current != version:
                history.append(current)
            change = {
                "aliases": {**self.files.state["aliases"], alias: version},
                "history": {**self.files.state["history"], alias: history},
            }
            self._commit(f"move alias {alias} in", change, result)
        return result

    def rollback(self, alias: str = "champion") -> Promotion:
        """Move ``alias`` back to its previous target (verified first); repeatable."""
        with self.files.locked():
            self.files.reload()
            history = self.history(alias)
            current = self.files.state["aliases"].get(alias)
            if current is None:
                raise RegistryError(f"{self.root}: no alias {alias!r} to roll back")
            if not history:
                raise RegistryError(
                    f"{self.root}: alias {alias!r} has no previous target to roll back to"
                )
            target = history.pop()
            result = Promotion("rollback", alias, current, target)
            try:
                self.verify(target)
            except RectuneError as exc:
                result.action = "rollback-refused"
                return self._refuse(result, f"version {target} does not verify: {exc}")
            change = {
                "aliases": {**self.files.state["aliases"], alias: target},
                "history": {**self.files.state["history"], alias: history},
            }
            self._commit(f"roll back alias {alias} in", change, result)
        return result

    def gc(self, keep: int = 10) -> list[int]:
        """Delete old versions; returns the numbers deleted.

        Kept: the newest ``keep`` versions, every aliased version, and each alias's last
        ``keep`` rollback targets (older rollback history is forgotten, in the same commit).
        """
        if keep < 1:
            raise ConfigError(f"gc keep must be at least 1, got {keep}")
        with self.files.locked():
            self.files.reload()
            state = self.files.state
            history = {a: h[-keep:] for a, h in state["history"].items()}
            kept = set(sorted(self.files.versions)[-keep:]) | set(state["aliases"].values())
            kept |= {v for h in history.values() for v in h}
            doomed = sorted(set(self.files.versions) - kept)
            if not doomed and history == state["history"]:
                return []
            change = {"history": history, "deleted": sorted({*state["deleted"], *doomed})}
            record = {
                "action": "gc",
                "alias": None,
                "from": None,
                "to": None,
                "deleted": doomed,
                "keep": keep,
            }
            self._io("delete old versions from", lambda: self.files.commit(change, record))
        return doomed

    # ------------------------------------------------------------------ helpers
    def _refuse(self, result: Promotion, reason: str) -> Promotion:
        if result.action == "promote":
            result.action = "refuse"
        result.reason = f"{result.alias} stays at version {result.from_version}: {reason}"
        self._commit("record a refusal in", {}, result)
        return result

    def _commit(self, what: str, change: dict[str, Any], result: Promotion) -> None:
        self._io(what, lambda: self.files.commit(change, result.record()))

    def _io(self, what: str, step: Any) -> Any:
        """`_io`, then re-read the disk after a failure, so this object shows what is there."""
        try:
            return _io(what, self.root, step)
        except RegistryError:
            try:
                self.files.reload()
            except (OSError, RectuneError):  # the next call reloads again
                logger.warning("%s: could not re-read the registry after a failure", self.root)
            raise


def _io(what: str, root: str | os.PathLike[str], step: Any) -> Any:
    """Run a change; an OSError becomes a one-line `RegistryError` ("could not <what> the
    registry"). The state on disk is then the old or the new one: the next open tells which."""
    try:
        return step()
    except OSError as exc:
        raise RegistryError(f"{root}: could not {what} the registry ({exc})") from exc

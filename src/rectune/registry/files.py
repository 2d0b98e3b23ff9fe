"""The files of a model registry: immutable versions, one state file, an append-only audit log.

```
REG/
  versions/<n>/   an artifact directory plus version.json (parent, events consumed, metrics);
                  assembled under a temporary name and published by one rename
  state.json      aliases, each alias's rollback history, deleted versions, the audit position;
                  replaced by one rename (temp file, fsync, rename, fsync directory)
  audit.jsonl     one JSON record per promotion, refusal, rollback and gc, fsynced
  .lock           an flock held by every change, so several processes can share a registry
```

Each change is committed by exactly one rename, so a crash at any point leaves the old or the
new state: adding a version is the rename of its directory; moving an alias, a rollback or a gc
is the rename of ``state.json``, which also carries the audit record it commits
(``last_audit``). The log line is appended after that rename; `RegistryFiles.reload` drops a
torn last line and re-appends a committed record the log lacks, removes temporaries, and
finishes the deletions of a gc. This module moves files only: it imports no model.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rectune.errors import ArtifactError, RegistryError
from rectune.registry.artifacts import read_json, read_manifest
from rectune.registry.durable import (
    TMP_PREFIX,
    append_line,
    checked_json,
    copy_tree,
    fsync_dir,
    publish_dir,
    read_checked_json,
    remove_temporaries,
    replace_file,
    write_file,
)

STATE_FORMAT = 1
VERSION_FILE = "version.json"


def now() -> str:
    """The current UTC time, as recorded in versions and audit records."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def empty_state() -> dict[str, Any]:
    """The state of a registry before its first change."""
    return {
        "format": STATE_FORMAT,
        "audit_seq": 0,
        "last_audit": None,
        "aliases": {},
        "history": {},
        "deleted": [],
    }


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version: its number, directory and the metadata recorded when added."""

    version: int
    path: Path
    parent: int | None = None
    """The version this one was derived from (lineage), or None."""
    created_at: str | None = None
    events: dict[str, int] | None = None
    """``{"first_seq", "last_seq", "count"}`` of the events it consumed, or None."""
    metrics: dict[str, Any] = field(default_factory=dict)
    artifact_id: str | None = None
    checksum: str | None = None
    """The artifact's manifest checksum, as verified when the version was added."""
    error: str | None = None
    """Why ``version.json`` cannot be read (the version is then never promoted)."""


class RegistryFiles:
    """The on-disk registry at ``root`` (see the module docstring); open an existing one."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self.state_path = self.root / "state.json"
        self.audit_path = self.root / "audit.jsonl"
        if not self.versions_dir.is_dir() or not self.state_path.is_file():
            raise RegistryError(
                f"{self.root}: not a registry (no versions/ or state.json); "
                "create one with `rectune registry init`"
            )
        self.state: dict[str, Any] = empty_state()
        self.audit: list[dict[str, Any]] = []
        self._seen: tuple[tuple[int, int, int] | None, ...] = ()
        self._audit_read: tuple[int | None, int, tuple[dict[str, Any], ...]] = (None, 0, ())
        self.versions: dict[int, VersionInfo] = {}
        with self.locked():
            self.reload()

    # ------------------------------------------------------------------ create
    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        artifact: str | os.PathLike[str],
        *,
        metrics: dict[str, Any] | None,
        alias: str,
        record: dict[str, Any],
        events: dict[str, int] | None = None,
    ) -> RegistryFiles:
        """A new registry holding ``artifact`` as version 1 with ``alias`` on it.

        The whole tree is assembled in a temporary sibling and renamed to ``root`` (which must
        not exist or be an empty directory): a crash leaves no half-made registry.
        """
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise RegistryError(f"{root}: exists and is not an empty directory")
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = root.with_name(f"{TMP_PREFIX}{root.name}.{uuid.uuid4().hex[:8]}")
        try:
            os.mkdir(tmp)
            os.mkdir(tmp / "versions")
            _assemble_version(tmp / "versions" / "1", artifact, 1, None, events, metrics)
            fsync_dir(tmp / "versions")
            state = empty_state()
            rec = {"seq": 1, "at": now(), **record}
            state.update(audit_seq=1, last_audit=rec, aliases={alias: 1})
            write_file(tmp / "state.json", checked_json(state))
            write_file(tmp / "audit.jsonl", (json.dumps(rec, sort_keys=True) + "\n").encode())
            fsync_dir(tmp)
            os.replace(tmp, root)
            fsync_dir(root.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(root)

    # ------------------------------------------------------------------ reading
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry's lock (exclusive, across processes) for a read-modify-write."""
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def reload(self) -> None:
        """Read the state from disk, repairing what an interrupted change left (call locked).

        Cheap when nothing changed (the files' inode, size and mtime match the last read):
        versions are immutable, so only new version directories are read, and the audit log
        is parsed from where the last read ended when it only grew.
        """
        stamp = self._stamp()
        if stamp == self._seen:
            return
        remove_temporaries(self.versions_dir)
        remove_temporaries(self.root)
        try:
            state = read_checked_json(self.state_path)
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{self.state_path}: unreadable registry state ({exc})") from None
        if state.get("format") != STATE_FORMAT:
            raise RegistryError(f"{self.state_path}: unknown format {state.get('format')!r}")
        self.state = state
        for n in state["deleted"]:  # finish an interrupted gc
            _remove_version_dir(self.versions_dir, n)
        self.audit = self._recover_audit()
        present = {
            int(e.name) for e in self.versions_dir.iterdir() if e.name.isdecimal() and e.is_dir()
        }
        known = {n: v for n, v in self.versions.items() if n in present and not v.error}
        for n in present - set(known):
            known[n] = _read_version(self.versions_dir / str(n), n)
        self.versions = dict(sorted(known.items()))
        self._seen = self._stamp()

    def _stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        """(inode, size, mtime) of the files a change touches: equal stamps, nothing changed."""
        out = []
        for path in (self.state_path, self.audit_path, self.versions_dir, self.root):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                out.append(None)
                continue
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(out)

    def _recover_audit(self) -> list[dict[str, Any]]:
        """The audit records, after dropping a torn last line and re-appending a committed
        record that the log lacks (the state's ``last_audit``)."""
        path = self.audit_path
        start, records, data = 0, [], b""
        ino = None
        if path.exists():
            with path.open("rb") as fh:
                ino = os.fstat(fh.fileno()).st_ino
                prev_ino, prev_end, prev_records = self._audit_read
                if ino == prev_ino and prev_end <= os.fstat(fh.fileno()).st_size:
                    start, records = prev_end, list(prev_records)  # the log only grew
                    fh.seek(start)
                data = fh.read()
        lines = data.split(b"\n")
        torn = lines[-1] != b""
        for k, raw in enumerate(lines[:-1], start=len(records) + 1):
            try:
                rec = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise RegistryError(f"{path}: line {k} is not valid JSON") from None
            if not isinstance(rec, dict) or rec.get("seq") != k:
                raise RegistryError(f"{path}: line {k} is not audit record {k}")
            records.append(rec)
        end = start + len(data) - len(lines[-1])
        self._audit_read = (ino, end, tuple(records)) if not torn else (None, 0, ())
        committed, last = self.state["audit_seq"], self.state["last_audit"]
        missing = committed == len(records) + 1 and isinstance(last, dict)
        if missing:
            records.append(last)
        elif committed != len(records):
            raise RegistryError(
                f"{path}: holds {len(records)} records but {self.state_path.name} committed "
                f"{committed}"
            )
        if not (missing or torn):
            return records
        body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        replace_file(path, body.encode())
        return records

    def next_version(self) -> int:
        """The number the next version gets (numbers of deleted versions are never reused)."""
        return max([0, *self.versions, *self.state["deleted"]]) + 1

    def version(self, n: int) -> VersionInfo:
        """Version ``n``; RegistryError if there is none."""
        if n not in self.versions:
            have = ", ".join(map(str, self.versions)) or "none"
            raise RegistryError(f"{self.root}: no version {n} (versions: {have})")
        return self.versions[n]

    # ------------------------------------------------------------------ changes
    def add_version(
        self,
        artifact: str | os.PathLike[str],
        *,
        parent: int | None,
        events: dict[str, int] | None,
        metrics: dict[str, Any] | None,
        move: bool = False,
        checksum: str | None = None,
    ) -> VersionInfo:
        """Copy ``artifact`` in as the next version (call locked; one rename publishes it).

        ``move``: rename the artifact in instead of copying it when it is on the registry's
        file system (the source is then gone, also if the version is not published).
        ``checksum`` (with ``move``): the manifest checksum the writer computed over the bytes
        it wrote and fsynced (`save_model` with ``durable``); the moved files are then not
        hashed again here, only the manifest is checked to match (promotion verifies them).
        """
        n = self.next_version()
        final = self.versions_dir / str(n)
        tmp = self.versions_dir / f"{TMP_PREFIX}{n}.{uuid.uuid4().hex[:8]}"
        try:
            _assemble_version(
                tmp, artifact, n, parent, events, metrics, move=move, checksum=checksum
            )
            publish_dir(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        info = _read_version(final, n)
        self.versions[n] = info
        return info

    def commit(self, change: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        """Replace the state with ``change`` applied and append ``record`` to the audit log.

        The rename of ``state.json`` (which holds the record) is the commit; the log line is
        appended after it (and re-appended by `reload` if that step did not finish).
        """
        seq = self.state["audit_seq"] + 1
        rec = {"seq": seq, "at": now(), **record}
        new = {**self.state, **change, "audit_seq": seq, "last_audit": rec}
        replace_file(self.state_path, checked_json(new))
        self.state = new
        append_line(self.audit_path, json.dumps(rec, sort_keys=True))
        self.audit.append(rec)
        for n in change.get("deleted", ()):
            if n in self.versions:
                _remove_version_dir(self.versions_dir, n)
                del self.versions[n]
        return rec


def _assemble_version(
    tmp: Path,
    artifact: str | os.PathLike[str],
    n: int,
    parent: int | None,
    events: dict[str, int] | None,
    metrics: dict[str, Any] | None,
    *,
    move: bool = False,
    checksum: str | None = None,
) -> None:
    """Copy (or move) an artifact to ``tmp``, check its checksums there, add ``version.json``.

    A moved artifact whose writer gave its manifest ``checksum`` is checked by that alone.
    """
    src = Path(artifact)
    moved = False
    if move:
        try:
            os.rename(src, tmp)
            fsync_dir(tmp)
            moved = True
        except OSError:  # another file system: copy
            moved = False
    if not moved:
        read_manifest(src)  # refuse a broken artifact before copying anything
        copy_tree(src, tmp)
    if moved and checksum is not None:
        manifest = read_json(tmp, "manifest.json")
        if not isinstance(manifest, dict) or manifest.get("checksum") != checksum:
            raise ArtifactError(f"{src}: manifest checksum is not the one written ({checksum})")
    else:
        manifest = read_manifest(tmp)  # the copy, as it is on disk
    if metrics is None:
        saved = read_json(tmp, "metrics.json")
        metrics = saved if isinstance(saved, dict) else {}
    meta = {
        "version": n,
        "parent": parent,
        "created_at": now(),
        "events": events,
        "metrics": metrics,
        "artifact": {"id": manifest["id"], "checksum": manifest["checksum"], "source": str(src)},
    }
    write_file(tmp / VERSION_FILE, checked_json(meta))
    fsync_dir(tmp)


def _read_version(path: Path, n: int) -> VersionInfo:
    try:
        meta = read_checked_json(path / VERSION_FILE)
        if meta.get("version") != n:
            raise ValueError(f"records version {meta.get('version')!r}")
    except (OSError, ValueError, ArtifactError) as exc:
        return VersionInfo(n, path, error=f"{path / VERSION_FILE}: {exc}")
    art = meta.get("artifact") or {}
    return VersionInfo(
        version=n,
        path=path,
        parent=meta.get("parent"),
        created_at=meta.get("created_at"),
        events=meta.get("events"),
        metrics=dict(meta.get("metrics") or {}),
        artifact_id=art.get("id"),
        checksum=art.get("checksum"),
    )


def _remove_version_dir(versions_dir: Path, n: int) -> None:
    """Delete a version's directory: renamed to a temporary name first, so a crash midway
    never leaves a partial version under its number."""
    final = versions_dir / str(n)
    if not final.exists():
        return
    trash = versions_dir / f"{TMP_PREFIX}gc-{n}.{uuid.uuid4().hex[:8]}"
    os.rename(final, trash)
    fsync_dir(versions_dir)
    shutil.rmtree(trash, ignore_errors=True)

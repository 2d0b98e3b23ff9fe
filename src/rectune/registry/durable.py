"""Durable file operations: every change is committed by one rename, after fsync.

A file is replaced by writing a temporary sibling, fsyncing it, renaming it over the target and
fsyncing the directory (so the rename itself survives a power cut); a directory is published
the same way, after fsyncing each file in it. A crash at any point leaves either the old or the
new content under the final name, never a mix, and at worst a temporary file that
`remove_temporaries` cleans up. Every write goes through ``os.write``, ``os.fsync`` and
``os.replace`` so that tests can inject I/O errors at any step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

#: Prefix of every temporary name these helpers create (a leading dot: never a version).
TMP_PREFIX = ".tmp-"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory, so that renames and new entries in it are on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a new file ``path`` and fsync it (no rename: the caller publishes it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace ``path`` with ``data``: temp file, fsync, rename, fsync directory."""
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        write_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    fsync_dir(path.parent)


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line (``line`` without its newline) to ``path`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        _write_all(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_tree(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy the regular files of ``src`` (recursively) into the new directory ``dst``, fsynced.

    ``dst`` is a temporary name; publish it with `publish_dir`.
    """
    src, dst = Path(src), Path(dst)
    os.mkdir(dst)
    for entry in sorted(src.iterdir()):
        if entry.is_symlink():
            continue  # an artifact holds plain files; a link could point anywhere
        if entry.is_dir():
            copy_tree(entry, dst / entry.name)
        elif entry.is_file():
            with entry.open("rb") as fh:
                write_file(dst / entry.name, fh.read())
    fsync_dir(dst)


def publish_dir(tmp: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Rename the finished directory ``tmp`` to ``final`` (which must not exist) durably."""
    final = Path(final)
    if final.exists():
        raise FileExistsError(f"{final} exists")
    os.rename(tmp, final)
    fsync_dir(final.parent)


def remove_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Delete what an interrupted operation left in ``folder`` (names starting `TMP_PREFIX`)."""
    removed = []
    for entry in Path(folder).iterdir():
        if entry.name.startswith(TMP_PREFIX):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                _unlink(entry)
            removed.append(entry.name)
    return removed


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# ---------------------------------------------------------------- self-checking JSON
def checked_json(obj: dict[str, Any]) -> bytes:
    """``obj`` as JSON with a ``sha256`` entry over the rest, so a flipped bit is detected."""
    body = {k: v for k, v in obj.items() if k != "sha256"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return (json.dumps({**body, "sha256": digest}, indent=1, sort_keys=True) + "\n").encode()


def read_checked_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file written with `checked_json`; ValueError names what is wrong with it."""
    try:
        obj = json.loads(Path(path).read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("sha256"), str):
        raise ValueError("no 'sha256' entry")
    body = {k: v for k, v in obj.items() if k != "sha256"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    if digest != obj["sha256"]:
        raise ValueError("checksum mismatch (file changed or corrupt)")
    return body

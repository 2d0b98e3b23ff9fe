"""Parquet snapshots of compacted events: written durably, read back by sequence range."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from rectune.errors import ArtifactError
from rectune.online._sql import EVENT_COLUMNS


def write_snapshot(frame: pd.DataFrame, directory: Path, first: int, last: int) -> Path:
    """Write ``frame`` as ``events-FIRST-LAST.parquet``: temp file, fsync, rename, fsync dir."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / f"events-{first:012d}-{last:012d}.parquet").resolve()
    tmp = path.with_name(path.name + ".tmp")
    table = pa.table(
        {
            "seq": pa.array(frame["seq"], pa.int64()),
            "event_id": pa.array(frame["event_id"], pa.string()),
            "user_id": pa.array(frame["user_id"], pa.string()),
            "item_id": pa.array(frame["item_id"], pa.string()),
            "value": pa.array(frame["value"], pa.float64()),
            "ts": pa.array(frame["ts"], pa.int64()),
        }
    )
    pq.write_table(table, tmp)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_snapshots(snapshots: list[dict[str, Any]], after: int, upto: int) -> pd.DataFrame:
    """Compacted events with ``after < seq <= upto``, in sequence order."""
    import pyarrow.parquet as pq

    parts = []
    for snap in snapshots:
        if snap["last_seq"] <= after or snap["first_seq"] > upto:
            continue
        try:
            table = pq.read_table(snap["path"], filters=[("seq", ">", after), ("seq", "<=", upto)])
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"snapshot {snap['path']}: cannot read: {exc}") from None
        parts.append(table.to_pandas())
    if not parts:
        return pd.DataFrame({c: [] for c in EVENT_COLUMNS})
    return pd.concat(parts, ignore_index=True).sort_values("seq", ignore_index=True)

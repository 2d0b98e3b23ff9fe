"""``rectune events``: ingest files into the event store, count, export (a scripted contract).

::

    rectune events ingest --store URL --file FILE [--format auto|csv|jsonl|parquet|ml-100k|...]
    rectune events count --store URL [--json]     # {"events", "users", "items", "last_seq"}
    rectune events export --store URL --out FILE.csv

``ingest`` checks the whole file before writing anything (a bad row exits 2 naming the file,
line and field), then appends it in batches; it is idempotent on ``event_id`` (a content hash
for files without that column), so re-ingesting a file, or resuming after a crash, adds only
what is missing. It prints ``{"accepted", "duplicates", "last_seq"}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from rectune.cli._common import console, user_errors
from rectune.errors import DataError

app = typer.Typer(help="The durable event store: ingest, count, export.", no_args_is_help=True)

INGEST_FORMATS = ("auto", "csv", "jsonl", "parquet", "ml-100k", "ml-1m", "ml-latest", "lastfm")
#: Header lines before the first event of the dataset layouts read through `rectune.data.load`.
_HEADER_LINES = {"ml-100k": 0, "ml-1m": 0, "ml-latest": 1, "lastfm": 1}


def _read(path: Path, fmt: str) -> tuple[Any, int]:
    """The file as a frame and the file line of its first row (row k is line k + offset)."""
    import pandas as pd

    if fmt == "auto":
        suffix = path.suffix.lower()
        fmt = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix, "csv")
        if path.is_dir() or path.name in ("u.data", "ratings.dat", "user_artists.dat"):
            from rectune.data import detect_format

            fmt = detect_format(path)[0]
    if fmt not in INGEST_FORMATS:
        raise DataError(f"unknown format {fmt!r}; expected one of {INGEST_FORMATS}", file=str(path))
    if not path.exists():
        raise DataError("file not found", file=str(path))
    if fmt in _HEADER_LINES:
        from rectune.data import load

        data = load(path, format=fmt)
        frame = pd.DataFrame(
            {"user_id": data.user_ids, "item_id": data.item_ids, "value": data.values}
        )
        if data.timestamps is not None:
            frame["timestamp"] = data.timestamps
        return frame, 1 + _HEADER_LINES[fmt]
    try:
        if fmt == "parquet":
            return pd.read_parquet(path), 1
        if fmt == "jsonl":
            return pd.read_json(path, lines=True, dtype=False), 1
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        return pd.read_csv(
            path, sep=sep, dtype={"event_id": str}, keep_default_na=False, na_values=[""]
        ), 2
    except (ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read as {fmt}: {first}", file=str(path)) from None


@app.command("ingest")
def ingest(
    store: str = typer.Option(..., "--store", help="sqlite:///PATH or postgresql://..."),
    file: str = typer.Option(..., "--file", help="Events file (csv, jsonl, parquet, datasets)."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(INGEST_FORMATS)}."),
    batch_size: int = typer.Option(10_000, "--batch-size", help="Events per committed batch."),
) -> None:
    """Append a file's events; idempotent on event_id. Prints accepted/duplicates/last_seq."""
    from rectune.online.store import EventStore, check_batch

    with user_errors():
        path = Path(file)
        frame, offset = _read(path, fmt)
        try:
            check_batch(frame, now=0)  # the whole file is checked before anything is written
        except DataError as exc:
            line = None if exc.row is None else exc.row + offset
            raise DataError(exc.reason, file=str(path), line=line, field=exc.field) from None
        totals = {"accepted": 0, "duplicates": 0, "last_seq": 0}
        with EventStore(store) as db:
            if len(frame) == 0:
                totals["last_seq"] = db.count()["last_seq"]
            for start in range(0, len(frame), max(1, batch_size)):
                res = db.append(frame.iloc[start : start + max(1, batch_size)])
                totals["accepted"] += res["accepted"]
                totals["duplicates"] += res["duplicates"]
                totals["last_seq"] = res["last_seq"]
    typer.echo(json.dumps(totals))


@app.command("count")
def count(
    store: str = typer.Option(..., "--store", help="sqlite:///PATH or postgresql://..."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Events, distinct users and items, and the last sequence number."""
    from rectune.online.store import EventStore

    with user_errors(), EventStore(store) as db:
        out = db.count()
    if as_json:
        typer.echo(json.dumps(out))
        return
    for key, value in out.items():
        console.print(f"{key:<9} {value:,}", highlight=False)


@app.command("export")
def export(
    store: str = typer.Option(..., "--store", help="sqlite:///PATH or postgresql://..."),
    out: str = typer.Option(..., "--out", help="CSV file to write."),
) -> None:
    """Every event in sequence order as CSV (seq, event_id, user_id, item_id, value, timestamp)."""
    from rectune.online.store import EventStore

    with user_errors(), EventStore(store) as db:
        n = db.export_csv(out)
    console.print(f"wrote {n:,} events to {out}", highlight=False)

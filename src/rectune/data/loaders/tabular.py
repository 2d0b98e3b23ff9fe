"""Generic loaders: any delimited file with a header line, and Parquet, with a column mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from rectune.data.interactions import Interactions, ValueKind, resolve_columns
from rectune.data.loaders._assemble import _finish, _resolve
from rectune.data.loaders._convert import convert_column
from rectune.data.loaders._read import first_line, read_table, sniff_delimiter
from rectune.data.loaders._table import ColType, FileSpec, Table
from rectune.errors import DataError


def load_csv(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    skip_bad_rows: bool = False,
    kind: ValueKind | None = None,
) -> Interactions:
    """A delimited file with a header line; the separator is sniffed unless given."""
    p = Path(path)
    if delimiter is None:
        delimiter = sniff_delimiter(first_line(p, "utf-8")[1])
    spec = FileSpec(p, delimiter, quoting=delimiter != "::")
    columns, kind = _weight_alias(columns, kind)
    mapping = _resolve(spec, columns)
    types: dict[str, ColType] = {mapping["user_id"]: "id", mapping["item_id"]: "id"}
    if "rating" in mapping:
        types[mapping["rating"]] = "float"
    if "timestamp" in mapping:
        types[mapping["timestamp"]] = "time"
    table = read_table(spec, types)
    return _finish(table, "csv", mapping=mapping, skip_bad_rows=skip_bad_rows, kind=kind, source=p)


def load_parquet(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    skip_bad_rows: bool = False,
    kind: ValueKind | None = None,
) -> Interactions:
    """A Parquet file; "line" in error messages is the 1-based row number."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise DataError("file not found", file=str(p))
    try:
        schema = pq.read_schema(p)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", file=str(p)) from None
    columns, kind = _weight_alias(columns, kind)
    try:
        mapping = resolve_columns(list(schema.names), columns)
    except DataError as exc:
        raise DataError(exc.reason, file=str(p), field=exc.field) from None
    types: dict[str, ColType] = {mapping["user_id"]: "id", mapping["item_id"]: "id"}
    if "rating" in mapping:
        types[mapping["rating"]] = "float"
    if "timestamp" in mapping:
        types[mapping["timestamp"]] = "time"
    raw = pq.read_table(p, columns=list(types))
    if raw.num_rows == 0:
        raise DataError("no data rows", file=str(p), line=1)
    table = Table(None, pd.DataFrame(index=pd.RangeIndex(raw.num_rows)), tuple(types), source=p)
    for col, t in types.items():
        series, issue = convert_column(raw.column(col), col, t, required=False)
        table.frame[col] = series
        if issue is not None:
            table.issues.append(issue)
    return _finish(
        table, "parquet", mapping=mapping, skip_bad_rows=skip_bad_rows, kind=kind, source=p
    )


def _weight_alias(
    columns: Mapping[str, str] | None, kind: ValueKind | None
) -> tuple[dict[str, str] | None, ValueKind | None]:
    """Accept ``weight`` as a key of ``columns`` (implicit data) and reject unknown keys."""
    if columns is None:
        return None, kind
    cols = dict(columns)
    allowed = {"user_id", "item_id", "rating", "weight", "timestamp"}
    unknown = sorted(set(cols) - allowed)
    if unknown:
        raise DataError(f"unknown keys {unknown} in columns=; expected some of {sorted(allowed)}")
    if "weight" in cols:
        if "rating" in cols:
            raise DataError("columns= names both a rating and a weight column")
        cols["rating"] = cols.pop("weight")
        kind = kind or "weight"
    return cols, kind

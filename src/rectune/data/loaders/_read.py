"""Vectorised parsing of delimited text files whose errors are located by file, line and field.

Parsing is done by pyarrow (multi-threaded, typed). Checks are vectorised masks over the parsed
rows. Only when something is wrong is the file walked line by line in Python (`_resolve`), and
only as far as needed to turn "row 8,123,456 of the parsed table" into a physical 1-based line
number. That keeps a clean 10M-row file fast while a bad row still gets an exact error message.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from rectune.data.loaders._convert import convert_column
from rectune.data.loaders._table import SEPARATOR_NAMES, ColType, FileSpec, Table
from rectune.errors import DataError

#: Stand-in for a multi-character separator, which pyarrow cannot split on.
_UNIT_SEP = "\x1f"


# ---------------------------------------------------------------------------------- header
def first_line(path: Path, encoding: str) -> tuple[int, str]:
    """The first non-blank line (1-based number, text without line ending).

    Raises `DataError` for a missing or empty file.
    """
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.decode(encoding, errors="replace").rstrip("\r\n")
            if text.strip():
                return number, text.lstrip("\ufeff")
    raise DataError("file is empty", file=str(path), line=1)


def sniff_delimiter(line: str) -> str:
    """The separator that splits a header line into the most fields (comma if none does)."""
    counts = {sep: line.count(sep) for sep in ("::", "\t", ",", ";", "|")}
    if counts["::"]:
        return "::"
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def split_line(line: str, spec: FileSpec) -> list[str]:
    if spec.quoting and spec.delimiter != "::":
        return next(csv.reader([line], delimiter=spec.delimiter), [])
    return line.split(spec.delimiter)


def check_separator(spec: FileSpec, line_no: int, line: str, expected: int) -> None:
    """Raise a clear error if the first line is split by another separator than expected."""
    if spec.delimiter in line:
        return
    others = [s for s in SEPARATOR_NAMES if s != spec.delimiter and s in line]
    what = " ".join(spec.names) if spec.names else f"{expected} columns"
    if others:
        found = max(others, key=line.count)
        raise DataError(
            f"expected {spec.sep_name}-separated fields ({what}) but the line looks "
            f"{SEPARATOR_NAMES[found]}-separated: {line[:80]!r}",
            file=str(spec.path),
            line=line_no,
        )
    if expected > 1:
        raise DataError(
            f"expected {expected} {spec.sep_name}-separated fields ({what}), found 1: "
            f"{line[:80]!r}",
            file=str(spec.path),
            line=line_no,
        )


def read_header(spec: FileSpec) -> tuple[str, ...]:
    """Column names of a file with a header line (whitespace and a BOM stripped)."""
    line_no, line = first_line(spec.path, spec.encoding)
    if spec.delimiter not in line:
        raise DataError(
            f"expected a {spec.sep_name}-separated header line, got {line[:80]!r}",
            file=str(spec.path),
            line=line_no,
        )
    names = tuple(n.strip() for n in split_line(line, spec))
    if len(set(names)) != len(names) or "" in names:
        raise DataError(f"empty or repeated column names in header {names}", file=str(spec.path))
    return names


# ---------------------------------------------------------------------------------- reading
def read_table(
    spec: FileSpec,
    types: Mapping[str, ColType],
    *,
    required: Sequence[str] = (),
) -> Table:
    """Parse the columns named in ``types`` and record per-row issues (never raises for rows).

    Malformed rows (wrong number of fields) are counted and left out; unconvertible values are
    recorded as `Issue` masks. Structural problems (missing file, empty file, wrong separator,
    no data rows) raise `DataError` at once. Columns in ``required`` must not be empty.
    """
    line_no, line = first_line(spec.path, spec.encoding)
    columns = spec.names if spec.names is not None else read_header(spec)
    check_separator(spec, line_no, line, len(columns))
    missing = [c for c in types if c not in columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; columns are {list(columns)}",
            file=str(spec.path),
            line=1 if spec.header else None,
            field=missing[0],
        )

    try:
        pa_types = {c: t for c, t in ((c, _arrow_type(k)) for c, k in types.items()) if t}
        table, n_malformed = _arrow_read(spec, columns, list(types), pa_types, typed=True)
    except pa.ArrowInvalid:
        # A value did not convert: re-read as text and locate the problems vectorised.
        as_text = dict.fromkeys(types, pa.string())
        table, n_malformed = _arrow_read(spec, columns, list(types), as_text, typed=False)

    if table.num_rows == 0 and n_malformed == 0:
        raise DataError(
            "no data rows" + (" after the header" if spec.header else ""),
            file=str(spec.path),
            line=2 if spec.header else 1,
        )
    out = Table(spec, pd.DataFrame(index=pd.RangeIndex(table.num_rows)), columns, n_malformed)
    for col, kind in types.items():
        series, issue = convert_column(table.column(col), col, kind, required=col in required)
        out.frame[col] = series
        if issue is not None:
            out.issues.append(issue)
    return out


def _arrow_type(kind: ColType) -> pa.DataType | None:
    """Type pyarrow parses a column as; None lets pyarrow infer it (times)."""
    return {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "id": pa.string()}.get(
        kind
    )


def _arrow_read(
    spec: FileSpec,
    columns: Sequence[str],
    include: list[str],
    types: dict[str, pa.DataType],
    *,
    typed: bool,
) -> tuple[pa.Table, int]:
    """Read with pyarrow; malformed rows are skipped and counted (located later if needed)."""
    malformed = 0

    def on_invalid(row: pacsv.InvalidRow) -> str:
        nonlocal malformed
        malformed += 1
        return "skip"

    source: str | io.BytesIO = str(spec.path)
    delimiter = spec.delimiter
    if len(delimiter) > 1:
        raw = spec.path.read_bytes().replace(delimiter.encode(), _UNIT_SEP.encode())
        source, delimiter = io.BytesIO(raw), _UNIT_SEP
    read_opts = pacsv.ReadOptions(
        column_names=list(columns),
        skip_rows=1 if spec.header else 0,
        encoding=spec.encoding,
        use_threads=True,
    )
    parse_opts = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"' if spec.quoting else False,
        newlines_in_values=spec.quoting,
        invalid_row_handler=on_invalid,
    )
    convert_opts = pacsv.ConvertOptions(
        column_types=types,
        include_columns=include,
        null_values=[""],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(
            source, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts
        )
    except pa.ArrowInvalid as exc:
        if typed and "conversion error" in str(exc):
            raise
        raise DataError(f"cannot parse file: {exc}", file=str(spec.path)) from None
    return table, malformed

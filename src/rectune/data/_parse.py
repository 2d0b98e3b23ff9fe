"""Vectorised parsing of delimited text files whose errors are located by file, line and field.

Parsing is done by pyarrow (multi-threaded, typed). Checks are vectorised masks over the parsed
rows. Only when something is wrong is the file walked line by line in Python, and only as far as
needed to turn "row 8,123,456 of the parsed table" into a physical 1-based line number. That keeps
a clean 10M-row file fast while a bad row still gets an exact error message.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rectune.errors import DataError

log = logging.getLogger(__name__)

#: How a column is converted: integer, finite-or-not float, raw id (int if every value is an
#: integer, else str), plain string, or time (unix seconds, or date strings converted to them).
ColType = Literal["int", "float", "id", "str", "time"]

SEPARATOR_NAMES: dict[str, str] = {
    "\t": "tab",
    ",": "comma",
    ";": "semicolon",
    "|": "pipe",
    "::": "'::'",
}
_NAN_LITERALS = frozenset({"nan", "+nan", "-nan"})
_INT_RE = r"^\s*[+-]?\d+\s*$"
#: Stand-in for a multi-character separator, which pyarrow cannot split on.
_UNIT_SEP = "\x1f"
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class FileSpec:
    """Where and how a delimited file is laid out.

    ``names`` are the column names of a headerless file; ``None`` means the first line is a
    header. ``quoting`` enables CSV double quotes (off for the MovieLens ``.dat`` layouts, whose
    titles contain bare quotes).
    """

    path: Path
    delimiter: str
    names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    quoting: bool = False

    @property
    def header(self) -> bool:
        return self.names is None

    @property
    def sep_name(self) -> str:
        return SEPARATOR_NAMES.get(self.delimiter, repr(self.delimiter))


@dataclass
class Issue:
    """Rows that fail one check: a boolean mask, the field and a reason for a given row.

    ``first_of`` (for duplicates) gives, for a row, the row of the earlier occurrence, so the
    message can name both lines.
    """

    mask: np.ndarray
    field: str
    reason: Callable[[int], str]
    first_of: Callable[[int], int] | None = None


@dataclass
class Table:
    """Parsed rows of one file, converted by column type, plus what was wrong with them.

    ``spec`` is None for a file without lines (Parquet): row ``r`` is then reported as line
    ``r + 1`` of ``source``.
    """

    spec: FileSpec | None
    frame: pd.DataFrame
    columns: tuple[str, ...]
    n_malformed: int = 0
    issues: list[Issue] = field(default_factory=list)
    source: Path | None = None

    @property
    def file(self) -> str:
        return str(self.spec.path if self.spec is not None else self.source)

    def bad_mask(self) -> np.ndarray:
        bad = np.zeros(len(self.frame), dtype=bool)
        for issue in self.issues:
            bad |= issue.mask
        return bad


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
        series, issue = _convert(table.column(col), col, kind, required=col in required)
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


def _convert(
    arr: pa.ChunkedArray, col: str, kind: ColType, *, required: bool
) -> tuple[pd.Series, Issue | None]:
    """Convert one parsed column to its type; unconvertible cells become an `Issue`."""
    n = len(arr)
    if kind == "id":
        return _convert_id(arr, col)
    if kind == "str":
        s = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
        if required:
            empty = (s.str.strip() == "").to_numpy()
            if empty.any():
                return s, Issue(empty, col, lambda r: "missing value")
        return s, None
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        text = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
        return _convert_text(text, col, kind)
    # Typed by pyarrow: only nulls (empty cells) or non-integral floats can be wrong.
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else np.zeros(n, bool)
    missing = Issue(null, col, lambda r: "missing value") if null.any() else None
    if kind == "time" and (pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type)):
        secs = pc.cast(pc.cast(arr, pa.timestamp("s")), pa.int64()).fill_null(0)
        return pd.Series(secs.to_numpy()), missing
    if kind == "float":
        f = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return pd.Series(np.where(null, np.nan, f)), missing
    if pa.types.is_integer(arr.type):
        return pd.Series(arr.fill_null(0).to_numpy().astype(np.int64)), missing
    if pa.types.is_floating(arr.type):
        f = arr.to_numpy(zero_copy_only=False)
        ok = np.isfinite(f) & (f == np.round(f))
        bad = ~ok | null
        if bad.any():
            issue = Issue(
                bad,
                col,
                lambda r: "missing value" if null[r] else f"not an integer: {float(f[r])!r}",
            )
            return pd.Series(np.where(bad, 0, f).astype(np.int64)), issue
        return pd.Series(f.astype(np.int64)), None
    raise DataError(f"column has unsupported type {arr.type} for {kind}", field=col)


def _convert_id(arr: pa.ChunkedArray, col: str) -> tuple[pd.Series, Issue | None]:
    """Raw ids: int64 if every value is an integer, else stripped strings; empty is an issue."""
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    trimmed = pc.utf8_trim_whitespace(arr.fill_null(""))
    empty = pc.equal(pc.utf8_length(trimmed), 0).to_numpy(zero_copy_only=False)
    issue = Issue(empty, col, lambda r: "missing value") if empty.any() else None
    if pc.all(pc.match_substring_regex(trimmed, r"^([+-]?\d{1,18})?$")).as_py():
        ints = pc.cast(pc.if_else(pa.array(empty), "0", trimmed), pa.int64())
        return pd.Series(ints.to_numpy(zero_copy_only=False)), issue
    return pd.Series(trimmed.to_numpy(zero_copy_only=False), dtype=object), issue


def _convert_text(text: pd.Series, col: str, kind: ColType) -> tuple[pd.Series, Issue | None]:
    """Slow path: a numeric or time column that pyarrow could not convert, read as text."""
    stripped = text.str.strip()
    empty = (stripped == "").to_numpy()
    raw = text.to_numpy()

    def reason(msg: str) -> Callable[[int], str]:
        return lambda r: "missing value" if empty[r] else f"{msg}: {raw[r]!r}"

    if kind == "time":
        num = pd.to_numeric(stripped.where(~empty, "0"), errors="coerce")
        if num.notna().all():
            issue = Issue(empty, col, reason("")) if empty.any() else None
            return num.astype(np.int64), issue
        stamps = pd.to_datetime(stripped.where(~empty, None), errors="coerce", format="mixed")
        bad = stamps.isna().to_numpy() | empty
        secs = stamps.astype("datetime64[s]").astype("int64").where(~bad, 0)
        issue = Issue(bad, col, reason("not a time")) if bad.any() else None
        return secs.astype(np.int64), issue
    num = pd.to_numeric(stripped.where(~empty, "nan"), errors="coerce")
    nan_literal = stripped.str.lower().isin(_NAN_LITERALS).to_numpy()
    bad = (num.isna().to_numpy() & ~nan_literal) | empty
    if kind == "int":
        f = num.to_numpy(dtype=np.float64)
        bad |= ~np.isfinite(f) | (f != np.round(f))
        values = pd.Series(np.where(bad, 0, np.nan_to_num(f)).astype(np.int64))
        exact = stripped.str.fullmatch(r"[+-]?\d{1,18}").to_numpy(dtype=bool) & ~bad
        if exact.any():  # keep full int64 precision where the text is a plain integer
            values[exact] = pd.to_numeric(stripped[exact]).astype(np.int64)
        msg = "not an integer"
    else:
        values = pd.Series(num.to_numpy(dtype=np.float64))
        msg = "not a number"
    return values, Issue(bad, col, reason(msg)) if bad.any() else None


# ---------------------------------------------------------------------------------- locating
def _records(spec: FileSpec) -> Iterator[tuple[int, list[str] | None]]:
    """(first physical line, fields) of every record; fields None for a blank line."""
    with spec.path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=spec.encoding, errors="replace", newline="")
        if spec.quoting and len(spec.delimiter) == 1:
            reader = csv.reader(text, delimiter=spec.delimiter)
            start = 1
            for rec in reader:
                yield start, rec if rec else None
                start = reader.line_num + 1
            return
        for number, line in enumerate(text, start=1):
            line = line.rstrip("\r\n")
            yield number, line.split(spec.delimiter) if line else None


def locate(
    table: Table, rows: Sequence[int], *, n_malformed: int = 0
) -> tuple[dict[int, int], list[tuple[int, str]]]:
    """Physical lines of parsed ``rows`` and of the first ``n_malformed`` malformed records.

    Walks the file once, stopping as soon as everything asked for is found. Malformed records
    are returned as (line, description) pairs.
    """
    wanted = set(int(r) for r in rows)
    if table.spec is None:
        return {r: r + 1 for r in wanted}, []
    lines: dict[int, int] = {}
    malformed: list[tuple[int, str]] = []
    expected = len(table.columns)
    row = 0
    header_pending = table.spec.header
    for number, fields in _records(table.spec):
        if len(lines) == len(wanted) and len(malformed) >= n_malformed:
            break
        if fields is None:
            continue
        if header_pending:
            header_pending = False
            continue
        if len(fields) != expected:
            if len(malformed) < n_malformed:
                malformed.append((number, _malformed_reason(table.spec, fields, expected)))
            continue
        if row in wanted:
            lines[row] = number
        row += 1
    return lines, malformed


def _malformed_reason(spec: FileSpec, fields: list[str], expected: int) -> str:
    msg = f"expected {expected} {spec.sep_name}-separated fields, found {len(fields)}"
    line = spec.delimiter.join(fields)
    for sep, name in SEPARATOR_NAMES.items():
        if sep != spec.delimiter and line.count(sep) == expected - 1 and len(fields) == 1:
            return f"{msg} (the line looks {name}-separated)"
    return f"{msg}: {line[:80]!r}"


# ---------------------------------------------------------------------------------- resolving
@dataclass
class Resolution:
    """Rows to keep after dropping bad ones, with the count and a few example messages."""

    keep: np.ndarray
    bad_rows: int
    examples: list[str]


def resolve(table: Table, *, skip_bad_rows: bool) -> Resolution:
    """Raise for the first bad row, or (``skip_bad_rows``) drop and count every bad row."""
    bad = table.bad_mask()
    n_bad = int(bad.sum()) + table.n_malformed
    if n_bad == 0:
        return Resolution(np.ones(len(table.frame), dtype=bool), 0, [])
    limit = 1 if not skip_bad_rows else MAX_EXAMPLES
    bad_rows = np.flatnonzero(bad)[:limit].tolist()
    related = [
        issue.first_of(r)
        for r in bad_rows
        for issue in table.issues
        if issue.first_of is not None and issue.mask[r]
    ]
    lines, malformed = locate(table, bad_rows + related, n_malformed=min(table.n_malformed, limit))
    errors: list[DataError] = [
        DataError(reason, file=table.file, line=line) for line, reason in malformed
    ]
    for r in bad_rows:
        for issue in table.issues:
            if issue.mask[r]:
                reason = issue.reason(r)
                if issue.first_of is not None:
                    reason += f"; first seen on line {lines.get(issue.first_of(r))}"
                errors.append(
                    DataError(reason, file=table.file, line=lines.get(r), field=issue.field)
                )
                break
    errors.sort(key=lambda e: e.line or 0)
    if not skip_bad_rows:
        raise errors[0]
    log.warning("skipped %d bad rows in %s (first: %s)", n_bad, table.file, errors[0])
    return Resolution(~bad, n_bad, [str(e) for e in errors[:MAX_EXAMPLES]])


YEAR_RE = re.compile(r"\((\d{4})\)\s*$")

"""Locating bad rows in the file (physical line numbers) and raising for or skipping them."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rectune.data.loaders._table import SEPARATOR_NAMES, FileSpec, Table
from rectune.errors import DataError

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5


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

"""Item records files: catalogue items with text and features, one row per item.

What ``rectune update --items FILE`` reads (and `rectune.online.update_artifact`): a CSV/TSV
with a header line, a JSON Lines file (``.jsonl``/``.ndjson``/``.json``) or a Parquet file,
holding

- an id column: ``item_id`` or a spelling `COLUMN_ALIASES` knows (``movieId``, ``itemId``...);
- the text: a ``text`` column, or MovieLens's ``title`` and optional ``genres`` ("|"-separated),
  turned into ``"Title (1995) | Genre, Genre"`` text plus genre flags and a ``year`` feature, as
  the ml-latest loader builds them;
- optional features: any other column (numbers, or categories), or a ``features`` mapping (a
  JSON object, as the event store's item records hold).

Every error names the file, the line (Parquet: the 1-based row) and the field.

Examples
--------
>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "items.csv"
>>> _ = f.write_text('item_id,text,year\\n7,"Heat (1995) | Crime",1995\\n9,Up | Animation,\\n')
>>> rec = load_items(f)
>>> rec.ids.tolist(), rec.text.tolist(), rec.features.columns.tolist()
([7, 9], ['Heat (1995) | Crime', 'Up | Animation'], ['year'])
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rectune.data.interactions import COLUMN_ALIASES
from rectune.data.loaders._read import sniff_delimiter
from rectune.data.loaders.movielens import _genre_side
from rectune.errors import DataError

#: File name endings read as JSON Lines and as Parquet (anything else: delimited text).
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Columns that are not features.
_TEXT_COLUMNS = ("text", "title", "genres", "features")


@dataclass
class ItemRecords:
    """Items read from a file: raw ids (file order), their text and their features."""

    ids: np.ndarray
    text: pd.Series | None
    """Raw item id -> text (None when the file has no text column)."""
    features: pd.DataFrame | None
    """Indexed by raw item id (None when the file has no feature column)."""
    source: str


def load_items(path: str | os.PathLike[str], *, int_ids: bool | None = None) -> ItemRecords:
    """Read an item records file (see the module docstring).

    ``int_ids`` says whether ids must be integers (True: a model with integer ids), strings
    (False) or whichever every id parses as (None).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("file not found", file=str(p))
    suffix = p.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        rows = _parquet_rows(p)
    elif suffix in JSONL_SUFFIXES:
        rows = _jsonl_rows(p)
    else:
        rows = _delimited_rows(p)
    if not rows:
        raise DataError("no item rows", file=str(p), line=1)
    return _assemble(rows, str(p), int_ids)


# ---------------------------------------------------------------------------------- reading
Rows = list[tuple[int, dict[str, Any]]]


def _delimited_rows(p: Path) -> Rows:
    with p.open(newline="", encoding="utf-8-sig") as fh:
        head = fh.readline()
        fh.seek(0)
        reader = csv.reader(fh, delimiter=sniff_delimiter(head.rstrip("\r\n")))
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError("file is empty", file=str(p), line=1)
        header = [h.strip() for h in header]
        rows: Rows = []
        for fields in reader:
            if not fields or not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"expected {len(header)} fields ({', '.join(header)}), got {len(fields)}",
                    file=str(p),
                    line=reader.line_num,
                )
            values = [f if f != "" else None for f in fields]
            rows.append((reader.line_num, dict(zip(header, values, strict=True))))
    return rows


def _jsonl_rows(p: Path) -> Rows:
    rows: Rows = []
    with p.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not JSON: {exc.msg}", file=str(p), line=number) from None
            if not isinstance(obj, dict):
                raise DataError("a line must be a JSON object", file=str(p), line=number)
            rows.append((number, obj))
    return rows


def _parquet_rows(p: Path) -> Rows:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", file=str(p)) from None
    return [(k + 1, row) for k, row in enumerate(table.to_pylist())]


# ---------------------------------------------------------------------------------- checks
def _assemble(rows: Rows, file: str, int_ids: bool | None) -> ItemRecords:
    columns = list(dict.fromkeys(c for _, row in rows for c in row))
    id_col = next((a for a in COLUMN_ALIASES["item_id"] if a in columns), None)
    if id_col is None:
        raise DataError(
            f"no item id column (one of {', '.join(COLUMN_ALIASES['item_id'])}); columns: "
            f"{', '.join(columns)}",
            file=file,
            line=1,
            field="item_id",
        )
    ids = _ids(rows, id_col, file, int_ids)
    frame = pd.DataFrame([row for _, row in rows], columns=columns)
    text = features = None
    if "text" in columns:
        text = pd.Series(_texts(rows, "text", file), index=ids, dtype=object, name="text")
    elif "title" in columns:
        titles = _texts(rows, "title", file)
        genres = [_optional_str(row.get("genres"), line, "genres", file) for line, row in rows]
        side = pd.DataFrame({"item_id": ids, "title": titles, "genres": genres})
        side["genres"] = side["genres"].fillna("")
        text, features = _genre_side(side)
    extra = [c for c in columns if c != id_col and c not in _TEXT_COLUMNS]
    parts = [features] if features is not None else []
    if extra:
        parts.append(_feature_columns(frame[extra], rows, ids, file))
    if "features" in columns:
        parts.append(_feature_mappings(rows, ids, file))
    features = pd.concat(parts, axis=1) if parts else None
    return ItemRecords(ids=ids, text=text, features=features, source=file)


def _ids(rows: Rows, col: str, file: str, int_ids: bool | None) -> np.ndarray:
    raw = [row.get(col) for _, row in rows]
    for (line, _), value in zip(rows, raw, strict=True):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError("missing item id", file=file, line=line, field=col)
        if isinstance(value, bool | dict | list | float) and not _integral(value):
            raise DataError(f"not an item id: {value!r}", file=file, line=line, field=col)
    if int_ids is None:
        int_ids = all(_as_int(v) is not None for v in raw)
    if int_ids:
        out = []
        for (line, _), value in zip(rows, raw, strict=True):
            number = _as_int(value)
            if number is None:
                raise DataError(
                    f"not an integer id: {value!r} (the model's item ids are integers)",
                    file=file,
                    line=line,
                    field=col,
                )
            out.append(number)
        ids = np.asarray(out, dtype=np.int64)
    else:
        ids = np.array([str(v).strip() for v in raw], dtype=object)
    first: dict[Any, int] = {}
    for (line, _), key in zip(rows, ids.tolist(), strict=True):
        if key in first:
            raise DataError(
                f"duplicate item id {key!r} (first at line {first[key]})",
                file=file,
                line=line,
                field=col,
            )
        first[key] = line
    return ids


def _integral(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if _integral(value):
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s.lstrip("-").isdigit():
            return int(s)
    return None


def _texts(rows: Rows, col: str, file: str) -> list[str]:
    out = []
    for line, row in rows:
        value = row.get(col)
        if not isinstance(value, str) or not value.strip():
            what = "missing" if value is None or isinstance(value, str) else "not a string"
            raise DataError(f"{col} is {what}", file=file, line=line, field=col)
        out.append(" ".join(value.split()))
    return out


def _optional_str(value: Any, line: int, col: str, file: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise DataError(f"{col} must be text, got {value!r}", file=file, line=line, field=col)


def _feature_columns(frame: pd.DataFrame, rows: Rows, ids: np.ndarray, file: str) -> pd.DataFrame:
    """Numbers where every value of a column is one, categories otherwise."""
    out = {}
    for col in frame.columns:
        values = frame[col].tolist()
        for (line, _), v in zip(rows, values, strict=True):
            if isinstance(v, dict | list):
                raise DataError(
                    "a feature must be a number or text", file=file, line=line, field=col
                )
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        given = pd.Series(values, dtype=object).notna()
        if (numbers.notna() == given).all():
            out[col] = numbers.astype(float).to_numpy()
        else:
            out[col] = pd.Categorical([None if pd.isna(v) else str(v) for v in values])
    return pd.DataFrame(out, index=pd.Index(ids, name="item_id"))


def _feature_mappings(rows: Rows, ids: np.ndarray, file: str) -> pd.DataFrame:
    """The ``features`` column: a JSON object (text in CSV, a mapping in JSONL/Parquet)."""
    maps = []
    for line, row in rows:
        value = row.get("features")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"features not JSON: {exc.msg}", file=file, line=line, field="features"
                ) from None
        if value is not None and not isinstance(value, dict):
            raise DataError("features must be a mapping", file=file, line=line, field="features")
        maps.append(value or {})
    frame = pd.DataFrame(maps, index=pd.Index(ids, name="item_id"))
    return _feature_columns(frame.reset_index(drop=True), rows, ids, file)


__all__ = ["ItemRecords", "load_items"]

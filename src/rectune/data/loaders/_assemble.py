"""Assembly shared by the loaders: value and duplicate checks, bad-row accounting, side files.

`_finish` turns a parsed ratings table into `Interactions` (raising for, or dropping and
counting, bad rows); `_side` reads an item/user/tag file the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions, ValueKind, resolve_columns
from rectune.data.loaders._read import read_header, read_table
from rectune.data.loaders._resolve import resolve
from rectune.data.loaders._table import ColType, FileSpec, Issue, Table
from rectune.errors import DataError

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
#: Tags kept per item in the item text (most frequent first).
MAX_TAGS = 10


# ---------------------------------------------------------------------------------- assembly
class _BadRows:
    """Bad rows skipped in side files, added to the ratings file's count."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[str] = []


def _finish(
    table: Table,
    fmt: str,
    *,
    skip_bad_rows: bool,
    source: Path,
    mapping: Mapping[str, str] | None = None,
    bad: _BadRows | None = None,
    kind: ValueKind | None = None,
    **side: Any,
) -> Interactions:
    """Check values and duplicates, resolve bad rows, and build the `Interactions`."""
    mapping = dict(mapping or {c: c for c in RATING_COLUMNS})
    frame = table.frame
    ucol, icol = mapping["user_id"], mapping["item_id"]
    vcol, tcol = mapping.get("rating"), mapping.get("timestamp")
    if kind is None:
        kind = "weight" if vcol is None or vcol in {"weight", "count"} else "rating"
    if vcol is not None:
        values = frame[vcol].to_numpy(dtype=np.float64)
        nonfinite = ~np.isfinite(values) & ~table.bad_mask()
        if nonfinite.any():
            table.issues.append(
                Issue(nonfinite, vcol, lambda r: f"{vcol} is not finite: {float(values[r])!r}")
            )
    else:
        values = np.ones(len(frame))
    ok = ~table.bad_mask()
    user_map, users = IdMap.factorize(frame[ucol].to_numpy()[ok])
    item_map, items = IdMap.factorize(frame[icol].to_numpy()[ok])
    keys = users.astype(np.int64) * max(len(item_map), 1) + items
    ordered = np.sort(keys)
    if (ordered[1:] == ordered[:-1]).any():
        ok_rows = np.flatnonzero(ok)
        dup = np.zeros(len(frame), dtype=bool)
        dup[ok_rows[pd.Series(keys).duplicated(keep="first").to_numpy()]] = True
        key_of = np.full(len(frame), -1, dtype=np.int64)
        key_of[ok_rows] = keys
        uid, iid = frame[ucol].to_numpy(), frame[icol].to_numpy()
        table.issues.append(
            Issue(
                dup,
                f"{ucol},{icol}",
                lambda r: f"duplicate ({ucol}, {icol}) pair ({_py(uid[r])!r}, {_py(iid[r])!r})",
                first_of=lambda r: int(np.flatnonzero(key_of == key_of[r])[0]),
            )
        )
    res = resolve(table, skip_bad_rows=skip_bad_rows)
    keep = res.keep[ok]
    ts = None
    if tcol is not None:
        ts = frame[tcol].to_numpy(dtype=np.int64)[ok][keep]
    bad = bad or _BadRows()
    meta: dict[str, Any] = {
        "format": fmt,
        "column_mapping": mapping,
        "bad_rows": res.bad_rows + bad.count,
        "bad_row_examples": (res.examples + bad.examples)[:5],
    }
    return Interactions(
        users[keep],
        items[keep],
        values[ok][keep],
        user_map,
        item_map,
        ts,
        kind=kind,
        source=str(source),
        meta=meta,
        **side,
    )


def _side(
    spec: FileSpec,
    types: dict[str, ColType],
    bad: _BadRows,
    skip_bad_rows: bool,
    *,
    key: str | None = "",
) -> pd.DataFrame:
    """Read a side file (items, users, tags); a repeated key is a bad row like any other."""
    table = read_table(spec, types)
    key = next(iter(types)) if key == "" else key
    if key is not None:
        ids = table.frame[key].to_numpy()
        dup = table.frame[key].duplicated().to_numpy() & ~table.bad_mask()
        if dup.any():
            table.issues.append(
                Issue(
                    dup,
                    key,
                    lambda r: f"duplicate {key} {_py(ids[r])!r}",
                    first_of=lambda r: int(np.flatnonzero(ids == ids[r])[0]),
                )
            )
    res = resolve(table, skip_bad_rows=skip_bad_rows)
    bad.count += res.bad_rows
    bad.examples.extend(res.examples)
    return table.frame[res.keep].reset_index(drop=True)


def _layout(path: str | os.PathLike[str], ratings_name: str) -> tuple[Path, Path]:
    """(dataset folder, ratings file) from either of them."""
    p = Path(path)
    if p.is_dir():
        f = p / ratings_name
        if not f.is_file():
            raise DataError(f"no {ratings_name} in this directory", file=str(p))
        return p, f
    if not p.is_file():
        raise DataError("no such file or directory", file=str(p))
    return p.parent, p


def _resolve(spec: FileSpec, columns: Mapping[str, str] | None) -> dict[str, str]:
    header = read_header(spec)
    try:
        return resolve_columns(list(header), columns)
    except DataError as exc:
        raise DataError(exc.reason, file=str(spec.path), line=1, field=exc.field) from None


def _append_tags(text: pd.Series, item_ids: Any, tags: pd.Series) -> pd.Series:
    """Append the most frequent distinct tags of each item as " | tags: a, b"."""
    frame = pd.DataFrame({"item": np.asarray(item_ids), "tag": tags.astype(str).str.strip()})
    frame = frame[frame["tag"] != ""]
    frame["lower"] = frame["tag"].str.lower()
    counts = (
        frame.groupby(["item", "lower"], sort=False)
        .agg(tag=("tag", "first"), n=("tag", "size"))
        .reset_index()
        .sort_values(["item", "n", "lower"], ascending=[True, False, True])
    )
    top = counts.groupby("item", sort=False).head(MAX_TAGS)
    joined = top.groupby("item", sort=False)["tag"].agg(", ".join)
    extra = joined.reindex(text.index)
    has = extra.notna().to_numpy()
    out = text.to_numpy(dtype=object).copy()
    out[has] = out[has] + " | tags: " + extra.to_numpy(dtype=object)[has]
    return pd.Series(out, index=text.index, name="text", dtype=object)


def _py(value: Any) -> Any:
    """A numpy scalar as the plain Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value

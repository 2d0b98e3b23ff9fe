"""Conversion of parsed columns to their types; unconvertible cells become row issues."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rectune.data.loaders._table import ColType, Issue
from rectune.errors import DataError

_NAN_LITERALS = frozenset({"nan", "+nan", "-nan"})


def convert_column(
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
    """Raw ids: int64 if every value is an integer, else stripped strings.

    An empty cell, and a NaN or infinite float (Parquet), is an issue: never the id "nan".
    """
    inf: np.ndarray | None = None
    if pa.types.is_floating(arr.type):
        f = arr.to_numpy(zero_copy_only=False)  # nulls come out as NaN
        inf = np.isinf(f)
        arr = pa.array(f, mask=~np.isfinite(f))
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    trimmed = pc.utf8_trim_whitespace(arr.fill_null(""))
    empty = pc.equal(pc.utf8_length(trimmed), 0).to_numpy(zero_copy_only=False)
    issue = None
    if empty.any():
        issue = Issue(
            empty,
            col,
            lambda r: (
                f"not finite: {float(f[r])!r}" if inf is not None and inf[r] else "missing value"
            ),
        )
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

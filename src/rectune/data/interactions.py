"""`Interactions`: the one columnar container of user-item events that every part of rectune uses.

Rows hold a user index, an item index, a value (a rating, or a weight for implicit feedback) and
an optional timestamp. Indices point into two growable `IdMap` objects shared by every subset of
a dataset, so a train and a test split agree on what index 17 means. Side information travels
along: user features, item features and item text, keyed by raw id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from rectune.data._hash import rows_fingerprint
from rectune.data.idmap import IdMap
from rectune.data.validate import check_events
from rectune.errors import DataError

ValueKind = Literal["rating", "weight"]

#: Column spellings recognised for each canonical column, in order of preference.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "userId", "userID", "user", "uid", "UserId"),
    "item_id": ("item_id", "itemId", "itemID", "item", "movieId", "movie_id", "iid", "artistID"),
    "rating": ("rating", "value", "score", "weight", "count"),
    "timestamp": ("timestamp", "time", "ts", "datetime"),
}


@dataclass
class Interactions:
    """Columnar user-item interactions with id maps and optional side information.

    Examples
    --------
    >>> data = Interactions.from_raw(["u1", "u1", "u2"], ["a", "b", "a"], [5, 3, 4])
    >>> len(data), data.n_users, data.n_items
    (3, 2, 2)
    >>> data.user_ids.tolist()
    ['u1', 'u1', 'u2']
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    user_map: IdMap
    item_map: IdMap
    timestamps: np.ndarray | None = None
    kind: ValueKind = "rating"
    user_features: pd.DataFrame | None = None
    item_features: pd.DataFrame | None = None
    item_text: pd.Series | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.users = np.ascontiguousarray(self.users, dtype=np.int32)
        self.items = np.ascontiguousarray(self.items, dtype=np.int32)
        self.values = np.ascontiguousarray(self.values, dtype=np.float64)
        n = len(self.users)
        if len(self.items) != n or len(self.values) != n:
            raise DataError("users, items and values must have the same length")
        if self.timestamps is not None:
            self.timestamps = np.ascontiguousarray(self.timestamps, dtype=np.int64)
            if len(self.timestamps) != n:
                raise DataError("timestamps must have the same length as users")
        if n and (self.users.max() >= len(self.user_map) or self.items.max() >= len(self.item_map)):
            raise DataError("an index points past the end of its id map")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_raw(
        cls,
        user_ids: Any,
        item_ids: Any,
        values: Any = None,
        timestamps: Any = None,
        *,
        kind: ValueKind = "rating",
        **extra: Any,
    ) -> Interactions:
        """Build from raw id arrays; ids are mapped to indices in sorted order.

        Missing ids (None, NaN), non-finite values and missing or non-finite timestamps raise
        `DataError` naming the row (0-based) and the field (see `rectune.data.check_events`).
        """
        vals, ts = check_events(user_ids, item_ids, values, timestamps, fields={"value": kind})
        user_map, users = IdMap.factorize(user_ids)
        item_map, items = IdMap.factorize(item_ids)
        return cls(users, items, vals, user_map, item_map, ts, kind=kind, **extra)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        columns: Mapping[str, str] | None = None,
        kind: ValueKind | None = None,
        **extra: Any,
    ) -> Interactions:
        """Build from a pandas/polars DataFrame, a pyarrow Table or a dict of arrays.

        Column names are matched against the canonical ``user_id``, ``item_id``, ``rating``
        (or ``weight``), ``timestamp`` and their common spellings (see `COLUMN_ALIASES`);
        ``columns`` maps canonical names to the frame's own names explicitly.
        """
        df = _to_pandas(frame)
        mapping = resolve_columns(list(df.columns), columns)
        values = df[mapping["rating"]].to_numpy() if "rating" in mapping else None
        if kind is None:
            kind = (
                "weight"
                if mapping.get("rating") in {"weight", "count"} or values is None
                else "rating"
            )
        ts = df[mapping["timestamp"]] if "timestamp" in mapping else None
        if ts is not None and not pd.api.types.is_numeric_dtype(ts):
            ts = _unix_seconds(ts, mapping["timestamp"])
        try:
            out = cls.from_raw(
                df[mapping["user_id"]].to_numpy(),
                df[mapping["item_id"]].to_numpy(),
                values,
                None if ts is None else np.asarray(ts),
                kind=kind,
                **extra,
            )
        except DataError as exc:  # name the frame's own column
            column = mapping.get("rating" if exc.field == kind else str(exc.field), exc.field)
            raise DataError(exc.reason, row=exc.row, field=column) from None
        out.meta["column_mapping"] = mapping
        return out

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        return (
            f"Interactions(n={len(self)}, users={self.n_users}, items={self.n_items}, "
            f"kind={self.kind!r}, timestamps={self.timestamps is not None})"
        )

    @property
    def n_users(self) -> int:
        """Size of the user id map (may exceed the users present in this subset)."""
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @property
    def user_ids(self) -> np.ndarray:
        """Raw user id of every row."""
        return self.user_map.ids[self.users]

    @property
    def item_ids(self) -> np.ndarray:
        return self.item_map.ids[self.items]

    @property
    def is_implicit(self) -> bool:
        return self.kind == "weight"

    def subset(self, rows: np.ndarray) -> Interactions:
        """Rows selected by a boolean mask or an index array, sharing id maps and side data."""
        rows = np.asarray(rows)
        ts = None if self.timestamps is None else self.timestamps[rows]
        return replace(
            self,
            users=self.users[rows],
            items=self.items[rows],
            values=self.values[rows],
            timestamps=ts,
            meta=dict(self.meta),
        )

    def concat(self, other: Interactions) -> Interactions:
        """Rows of ``self`` followed by ``other``; ``other``'s ids are added to the maps."""
        umap, imap = self.user_map.copy(), self.item_map.copy()
        u = umap.add(other.user_ids)
        i = imap.add(other.item_ids)
        ts = None
        if self.timestamps is not None and other.timestamps is not None:
            ts = np.concatenate([self.timestamps, other.timestamps])
        return replace(
            self,
            users=np.concatenate([self.users, u]),
            items=np.concatenate([self.items, i]),
            values=np.concatenate([self.values, other.values]),
            timestamps=ts,
            user_map=umap,
            item_map=imap,
            meta=dict(self.meta),
        )

    def binarize(self, threshold: float | None = None) -> Interactions:
        """Implicit view: weight 1 for rows with value >= threshold (all rows if None)."""
        keep = np.ones(len(self), bool) if threshold is None else self.values >= threshold
        out = self.subset(keep)
        out.values = np.ones(int(keep.sum()))
        out.kind = "weight"
        return out

    def to_csr(self, *, binary: bool = False) -> sp.csr_matrix:
        """Users x items sparse matrix over the full id maps (duplicates are summed)."""
        vals = np.ones(len(self)) if binary else self.values
        m = sp.csr_matrix((vals, (self.users, self.items)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def to_frame(self) -> pd.DataFrame:
        """Canonical DataFrame: user_id, item_id, rating|weight, [timestamp]."""
        cols: dict[str, Any] = {
            "user_id": self.user_ids,
            "item_id": self.item_ids,
            "rating" if self.kind == "rating" else "weight": self.values,
        }
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    def fingerprint(self) -> str:
        """Content fingerprint of the rows (raw ids, values, timestamps, in order).

        Equal data give equal fingerprints whatever the id maps; the hash is a fast 128-bit
        mix, not a cryptographic digest (see `rectune.data._hash`).
        """
        return rows_fingerprint(
            self.user_map.keys(),
            self.users,
            self.item_map.keys(),
            self.items,
            self.values,
            self.timestamps,
        )

    def stats(self) -> dict[str, Any]:
        """Summary numbers for `rectune data stats`."""
        present_u = np.unique(self.users).size
        present_i = np.unique(self.items).size
        out: dict[str, Any] = {
            "interactions": len(self),
            "users": present_u,
            "items": present_i,
            "density": len(self) / max(present_u * present_i, 1),
            "kind": self.kind,
        }
        if len(self):
            out.update(value_min=float(self.values.min()), value_max=float(self.values.max()))
            out["value_mean"] = float(self.values.mean())
            per_user = np.bincount(self.users)
            out["ratings_per_user_median"] = float(np.median(per_user[per_user > 0]))
        if self.timestamps is not None and len(self):
            out["time_min"] = int(self.timestamps.min())
            out["time_max"] = int(self.timestamps.max())
        out["user_features"] = (
            None if self.user_features is None else list(self.user_features.columns)
        )
        out["item_features"] = (
            None if self.item_features is None else list(self.item_features.columns)
        )
        out["items_with_text"] = 0 if self.item_text is None else int(self.item_text.size)
        out["fingerprint"] = self.fingerprint()
        return out

    def reindexed(
        self,
        users: np.ndarray,
        items: np.ndarray,
        user_map: IdMap,
        item_map: IdMap,
        *,
        values: np.ndarray | None = None,
        timestamps: np.ndarray | Literal["keep"] | None = "keep",
        kind: ValueKind | None = None,
    ) -> Interactions:
        """These rows under other id maps, side information kept (a model's own index space).

        ``users`` and ``items`` are the rows' indices into ``user_map`` and ``item_map``;
        ``values`` (default: the rows' own), ``timestamps`` (default: kept; None drops them)
        and ``kind`` (default: the rows' own) may be replaced, e.g. to concatenate rows.
        """
        return Interactions(
            users,
            items,
            self.values if values is None else values,
            user_map,
            item_map,
            self.timestamps if isinstance(timestamps, str) else timestamps,
            kind=self.kind if kind is None else kind,
            user_features=self.user_features,
            item_features=self.item_features,
            item_text=self.item_text,
            source=self.source,
        )


def resolve_columns(
    available: list[str], explicit: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map canonical column names to the frame's columns; raises `DataError` if one is missing."""
    mapping: dict[str, str] = {}
    explicit = dict(explicit or {})
    for canon, aliases in COLUMN_ALIASES.items():
        if canon in explicit:
            if explicit[canon] not in available:
                raise DataError(
                    f"column {explicit[canon]!r} (for {canon}) not found; columns are {available}",
                    field=explicit[canon],
                )
            mapping[canon] = explicit[canon]
            continue
        for alias in aliases:
            if alias in available:
                mapping[canon] = alias
                break
    for required in ("user_id", "item_id"):
        if required not in mapping:
            raise DataError(
                f"no {required} column: expected one of {COLUMN_ALIASES[required]} "
                f"(or pass a column mapping); columns are {available}",
                field=required,
            )
    return mapping


def _to_pandas(frame: Any) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, Mapping):
        return pd.DataFrame(dict(frame))
    if hasattr(frame, "to_pandas"):  # pyarrow.Table, polars.DataFrame
        return frame.to_pandas()
    import pyarrow as pa

    return pa.table(frame).to_pandas()


def _unix_seconds(times: pd.Series, column: str) -> np.ndarray:
    """Unix seconds of date strings or datetimes (naive ones read as UTC), at any resolution."""
    stamps = pd.to_datetime(times, errors="coerce", format="mixed", utc=True)
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raw = times.iloc[row]
        reason = f"missing value ({raw!r})" if pd.isna(raw) else f"not a time: {raw!r}"
        raise DataError(reason, row=row, field=column)
    return stamps.dt.tz_localize(None).to_numpy().astype("datetime64[s]").astype(np.int64)


def check_interactions(data: Interactions) -> None:
    """Refuse an `Interactions` whose values are not finite (built without `from_raw`).

    For code that takes an `Interactions` it did not build (a model's ``fit``, ``partial_fit``
    or ``finetune``): the `DataError` names the row (0-based) and the field (``rating`` or
    ``weight``). Ids need no check: an `IdMap` never holds a missing id made by `from_raw`.

    Examples
    --------
    >>> data = Interactions.from_raw([1, 2], ["a", "b"], [5, 3])
    >>> check_interactions(data)
    >>> data.values[1] = float("inf")
    >>> check_interactions(data)
    Traceback (most recent call last):
    ...
    rectune.errors.DataError: row 1, field 'rating': not finite: inf
    """
    bad = ~np.isfinite(data.values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"not finite: {float(data.values[row])!r}", row=row, field=data.kind)

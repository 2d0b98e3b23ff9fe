"""Growable mapping between raw ids (ints or strings) and contiguous indices.

Raw ids are what users see at every public boundary; models work on indices ``0..n-1``. New ids
are appended, so existing indices never move: a model's rows stay valid as the map grows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from rectune.data._hash import id_keys
from rectune.errors import UnknownIdError

#: Queries of at most this many ids are looked up one hash probe at a time: pandas'
#: vectorised ``get_indexer`` costs ~30 us whatever the size, most of a one-user request.
SMALL_QUERY = 8


class IdMap:
    """Raw id <-> index map backed by a hash index.

    Examples
    --------
    >>> m = IdMap(["b", "a"])
    >>> m.index_of(["a", "z"]).tolist()
    [1, -1]
    >>> m.add(["z", "a"]).tolist()
    [2, 1]
    >>> len(m)
    3
    """

    __slots__ = ("_index", "_keys")

    def __init__(self, ids: Iterable[Any] = ()) -> None:
        arr = _as_id_array(ids)
        index = pd.Index(arr)
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise ValueError(f"duplicate id {dup!r} in IdMap")
        self._index = index
        self._keys: np.ndarray | None = None

    @classmethod
    def factorize(cls, raw: Any, *, sort: bool = True) -> tuple[IdMap, np.ndarray]:
        """Build a map of the distinct values of ``raw`` and return their indices."""
        codes, uniques = pd.factorize(_as_id_array(raw), sort=sort)
        m = cls.__new__(cls)
        m._index = pd.Index(uniques)
        m._keys = None
        return m, codes.astype(np.int32)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, raw: Any) -> bool:
        return raw in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._index.equals(other._index)

    def __repr__(self) -> str:
        return f"IdMap(n={len(self)}, dtype={self.dtype})"

    @property
    def ids(self) -> np.ndarray:
        """Raw ids in index order."""
        return self._index.to_numpy()

    @property
    def dtype(self) -> str:
        return "int64" if self._index.dtype.kind in "iu" else "str"

    def index_of(self, raw: Any, *, missing: int = -1) -> np.ndarray:
        """Indices of raw ids; unknown ids give ``missing``."""
        arr = _as_id_array(raw, keep_mixed=True)
        if self.dtype == "str" and arr.dtype.kind == "O":
            arr = np.array([str(x) for x in arr], dtype=object)
        if self.dtype == "int64" and arr.dtype.kind not in "iu":
            # Mixed queries against integer ids: the integers match; strings never do.
            arr = np.array([_as_int_or_none(x) for x in arr], dtype=object)
            known = np.array([x is not None for x in arr], dtype=bool)
            out = np.full(len(arr), missing, dtype=np.int64)
            if known.any():
                out[known] = self.index_of(arr[known].astype(np.int64), missing=missing)
            return out
        if len(arr) <= SMALL_QUERY:
            return np.array([self._position(x, missing) for x in arr], dtype=np.int64)
        idx = self._index.get_indexer(arr)
        if missing != -1:
            idx = np.where(idx < 0, missing, idx)
        return idx.astype(np.int64)

    def _position(self, key: Any, missing: int) -> int:
        """The index of one normalised id (``missing`` if unknown); the index is unique, so
        ``get_loc`` answers an integer or raises."""
        try:
            pos = self._index.get_loc(key)
        except (KeyError, TypeError):
            return missing
        return int(pos) if isinstance(pos, int | np.integer) else missing

    def index_strict(self, raw: Any, *, what: str = "id") -> np.ndarray:
        """Indices of raw ids; an unknown id raises `UnknownIdError`."""
        idx = self.index_of(raw)
        if (idx < 0).any():
            bad = np.asarray(_as_id_array(raw))[idx < 0][0]
            raise UnknownIdError(f"unknown {what} {bad!r}")
        return idx

    def add(self, raw: Any) -> np.ndarray:
        """Indices of raw ids, appending the ones not yet known (in first-seen order)."""
        arr = _as_id_array(raw)
        idx = self.index_of(arr)
        new = idx < 0
        if new.any():
            fresh = pd.Index(pd.unique(arr[new]))
            n0 = len(self._index)
            self._index = self._index.append(fresh)
            self._keys = None
            idx[new] = n0 + fresh.get_indexer(arr[new])  # no lookup in the grown index
        return idx

    def copy(self) -> IdMap:
        """A copy that shares the (immutable) index: `add` replaces it, never changes it."""
        m = IdMap.__new__(IdMap)
        m._index = self._index
        m._keys = self._keys
        return m

    def __deepcopy__(self, memo: dict[int, Any]) -> IdMap:
        # Sharing the pandas index also shares its hash table: a model's deep copy (the
        # updater copies its champion every cycle) does not rebuild it.
        return self.copy()

    def keys(self) -> np.ndarray:
        """Stable int64 key per id, in index order (cached; used for fingerprints)."""
        if self._keys is None or len(self._keys) != len(self):
            self._keys = id_keys(self.ids)
        return self._keys

    def to_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "ids": self.ids.tolist()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> IdMap:
        ids = obj["ids"]
        arr = np.asarray(ids, dtype=np.int64) if obj.get("dtype") == "int64" else ids
        return cls(arr)


def _as_id_array(raw: Any, *, keep_mixed: bool = False) -> np.ndarray:
    """Normalise ids to an int64 array or an object array of strings.

    With ``keep_mixed`` a sequence mixing integers and strings stays an object array of both
    (queries against integer ids must still find the integers).
    """
    if isinstance(raw, pd.Index | pd.Series):
        raw = raw.to_numpy()
    seq = raw if not np.isscalar(raw) else [raw]
    arr = np.asarray(seq)
    if arr.dtype.kind == "U" and not isinstance(seq, np.ndarray | str):
        # numpy's fixed-width str dtype drops trailing NUL characters: keep the str objects.
        arr = np.asarray(seq, dtype=object)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.size == 0:
        return np.asarray([], dtype=np.int64)
    if arr.dtype.kind == "f":
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return arr.astype(str).astype(object)
    if arr.dtype.kind == "O":
        # Python ints in an object array stay ints; anything else becomes str.
        if all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in arr):
            return arr.astype(np.int64)
        if all(isinstance(x, str) for x in arr):
            return arr  # already exact strings (a round trip through '<U' would cost and strip)
        if keep_mixed:
            return arr
        return np.array([str(x) for x in arr], dtype=object)
    return arr.astype(str).astype(object)


def _as_int_or_none(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | np.integer):
        return int(x)
    return None

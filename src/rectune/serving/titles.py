"""`TitleBook`: item titles for the dashboard, from a dataset's item text and the store.

Titles come from two places: the item text of a dataset (``rectune serve --data DIR``, any
format `rectune.data.load` reads: MovieLens ``u.item`` / ``movies.csv``, Last.fm artists) and
the item records posted to the service (``POST /v1/items``; a record's text wins over the
dataset's). A title is the text's first ``" | "`` segment (the loaders write
``Title (1995) | Genre, Genre``), first line, cut to `MAX_TITLE` characters. Items without
text have no title and the dashboard shows their id. Keys are ids as strings, so an integer id
and its JSON spelling meet.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from rectune.errors import DataError, RectuneError
from rectune.online.store import EventStore

logger = logging.getLogger(__name__)
MAX_TITLE = 120


def title_of(text: Any) -> str | None:
    """The display title of an item text (None: no usable text)."""
    if not isinstance(text, str):
        return None
    first = text.strip().split("\n", 1)[0].split(" | ", 1)[0].strip()
    if not first:
        return None
    return first if len(first) <= MAX_TITLE else first[: MAX_TITLE - 1] + "…"


def _titles(ids: Iterable[Any], texts: Iterable[Any]) -> dict[str, str]:
    out = {}
    for i, t in zip(ids, texts, strict=True):
        title = title_of(t)
        if title is not None:
            out[str(i)] = title
    return out


def load_titles(path: str | os.PathLike[str]) -> dict[str, str]:
    """Titles from the item text of the dataset at ``path``.

    A path that is not a readable dataset, or a dataset without item text (so the setting
    could not be honoured), raises a one-line `DataError` naming the path.
    """
    from rectune.data import load

    try:
        data = load(path)
    except RectuneError as exc:
        raise DataError(f"--data: {exc}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"--data {path}: cannot read it as a dataset ({exc})") from None
    text = data.item_text
    if text is None or not len(text):
        raise DataError(f"--data {path}: the dataset has no item text to take titles from")
    titles = _titles(text.index, text.to_numpy())
    if not titles:
        raise DataError(f"--data {path}: no item has a non-empty text")
    return titles


class TitleBook:
    """Titles of the dataset (fixed) plus the store's item records (followed incrementally).

    `refresh` reads only the records stored after the last one it saw (one cheap query), so
    calling it before each lookup keeps new items' titles current.
    """

    def __init__(self, base: dict[str, str] | None = None) -> None:
        self._base = dict(base or {})
        self._posted: dict[str, str] = {}
        self._seen_seq = 0
        self._lock = threading.Lock()

    @property
    def has_titles(self) -> bool:
        return bool(self._base or self._posted)

    def refresh(self, call: Callable[[Callable[[EventStore], pd.DataFrame]], pd.DataFrame]) -> None:
        """Take in item records stored since the last refresh; ``call`` runs a function on the
        store's thread (`StoreThread.call`)."""
        after = self._seen_seq
        records = call(lambda store: store.items(after))
        if not len(records):
            return
        with self._lock:
            ordered = records.sort_values("seq")
            for item, text in zip(ordered["item_id"], ordered["text"], strict=True):
                title = title_of(text)
                if title is not None:
                    self._posted[str(item)] = title
            self._seen_seq = max(self._seen_seq, int(ordered["seq"].max()))

    def get(self, item: Any) -> str | None:
        """The title of ``item`` (None: unknown)."""
        key = str(item)
        return self._posted.get(key) or self._base.get(key)

    def __len__(self) -> int:
        return len(self._base.keys() | self._posted.keys())

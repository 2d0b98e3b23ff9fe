"""Item text as it is known at an item's launch: title, year, genres, description; no user tags.

Loaders build item text as ``"Title (1995) | Genre, Genre | tags: a, b"`` (see
`rectune.data.loaders`). The tags are written by users *after* they interacted with the item, so
for an item held out as cold (`rectune.evaluation.splits.cold_item_rows`) they leak the very
interactions the evaluation hides; a model may only see what exists at launch. `launch_text`
builds that text for a new item and `strip_tags` removes the tag part from existing texts;
`cold_item_text` applies it to the cold items of a split only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Separator between the parts of an item text (loaders and `launch_text` agree on it).
SEP = " | "
#: Prefix of the user-tag part appended by the loaders.
TAGS_PREFIX = "tags:"


def launch_text(
    title: str,
    *,
    year: int | None = None,
    genres: Sequence[str] | str | None = None,
    description: str | None = None,
) -> str:
    """The text of a new item from what its publisher knows: ``"Title (year) | genres | desc"``.

    Examples
    --------
    >>> launch_text("Heat", year=1995, genres=["Action", "Crime"])
    'Heat (1995) | Action, Crime'
    >>> launch_text("Heat", description="A heist thriller.")
    'Heat | A heist thriller.'
    """
    head = title.strip()
    if year is not None and f"({year})" not in head:
        head = f"{head} ({int(year)})"
    parts = [head]
    if genres:
        parts.append(genres if isinstance(genres, str) else ", ".join(g for g in genres if g))
    if description:
        parts.append(" ".join(description.split()))
    return SEP.join(p for p in parts if p)


def strip_tags(text: str) -> str:
    """``text`` without its ``| tags: ...`` part (user tags are not known at launch).

    Examples
    --------
    >>> strip_tags("Toy Story (1995) | Animation | tags: pixar, fun")
    'Toy Story (1995) | Animation'
    >>> strip_tags("MALICE MIZER | tags: j-rock")
    'MALICE MIZER'
    """
    parts = str(text).split(SEP)
    kept = [p for p in parts if not p.lstrip().lower().startswith(TAGS_PREFIX)]
    return SEP.join(kept).strip()


def cold_item_text(item_text: pd.Series | None, cold_items: Iterable[Any]) -> pd.Series | None:
    """A copy of ``item_text`` (raw item id -> text) with tags stripped from ``cold_items``.

    Warm items keep their full text; ids missing from ``item_text`` are ignored.

    Examples
    --------
    >>> text = pd.Series({1: "A | Drama | tags: sad", 2: "B | Comedy | tags: fun"})
    >>> cold_item_text(text, [2]).tolist()
    ['A | Drama | tags: sad', 'B | Comedy']
    """
    if item_text is None:
        return None
    cold = pd.Index(np.asarray(list(cold_items) if not isinstance(cold_items, np.ndarray)
                               else cold_items))  # fmt: skip
    hit = item_text.index.isin(cold)
    if not hit.any():
        return item_text
    values = item_text.to_numpy(dtype=object).copy()
    values[hit] = [strip_tags(t) for t in values[hit]]
    return pd.Series(values, index=item_text.index, name=item_text.name, dtype=object)


__all__ = ["SEP", "TAGS_PREFIX", "cold_item_text", "launch_text", "strip_tags"]

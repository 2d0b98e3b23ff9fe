"""`ItemTextCatalogue`: raw item id -> text, read from the store incrementally.

The updater gives items that arrived with text rows from it (`Recommender.add_items`), which
needs the text of the known items too (the ridge map is fitted from them). Re-reading every item
record of the store per cycle grows with the catalogue; this keeps the merged text and reads only
the records newer than the last one it saw.
"""

from __future__ import annotations

import pandas as pd

from rectune.data.interactions import Interactions
from rectune.online.store import EventStore


class ItemTextCatalogue:
    """The base data's item text, then every item record of the store (newest wins)."""

    def __init__(self, store: EventStore, base_data: Interactions | None) -> None:
        self.store = store
        base = base_data.item_text if base_data is not None else None
        self._text = base.dropna() if base is not None else pd.Series(dtype=object)
        self._text = self._text[~self._text.index.duplicated(keep="last")]
        self._seen_seq = 0

    def text(self) -> pd.Series:
        """The current catalogue; records stored since the last call are merged in first."""
        fresh = self.store.items(self._seen_seq)
        if len(fresh):
            self._seen_seq = int(fresh["seq"].max())
            new = pd.Series(fresh["text"].to_numpy(), index=fresh["item_id"].to_numpy()).dropna()
            merged = pd.concat([self._text[~self._text.index.isin(new.index)], new])
            self._text = merged[~merged.index.duplicated(keep="last")]
        return self._text

"""Last.fm HetRec 2011 loader: listening counts as implicit weights, artist names and tags."""

from __future__ import annotations

import os

import pandas as pd

from rectune.data.interactions import Interactions
from rectune.data.loaders._assemble import _append_tags, _BadRows, _finish, _layout, _resolve, _side
from rectune.data.loaders._read import read_table
from rectune.data.loaders._table import ColType, FileSpec


def load_lastfm(path: str | os.PathLike[str], *, skip_bad_rows: bool = False) -> Interactions:
    """Last.fm HetRec 2011: listening counts (implicit, kind ``weight``), artist names and tags.

    The data has no listening timestamps, so ``timestamps`` is None.
    """
    folder, plays = _layout(path, "user_artists.dat")
    spec = FileSpec(plays, "\t")
    mapping = _resolve(spec, None)
    types: dict[str, ColType] = {mapping["user_id"]: "int", mapping["item_id"]: "int"}
    if "rating" in mapping:
        types[mapping["rating"]] = "float"
    table = read_table(spec, types)
    bad = _BadRows()
    item_text = None
    if (folder / "artists.dat").is_file():
        aspec = FileSpec(folder / "artists.dat", "\t")
        artists = _side(aspec, {"id": "int", "name": "str"}, bad, skip_bad_rows, key="id")
        item_text = pd.Series(artists["name"].to_numpy(), index=pd.Index(artists["id"]))
        tag_files = (folder / "tags.dat", folder / "user_taggedartists.dat")
        if all(f.is_file() for f in tag_files):
            names = _side(
                FileSpec(tag_files[0], "\t", encoding="latin-1"),
                {"tagID": "int", "tagValue": "str"},
                bad,
                skip_bad_rows,
                key="tagID",
            )
            assigned = _side(
                FileSpec(tag_files[1], "\t"),
                {"artistID": "int", "tagID": "int"},
                bad,
                skip_bad_rows,
                key=None,
            )
            tag_of = pd.Series(names["tagValue"].to_numpy(), index=names["tagID"].to_numpy())
            words = tag_of.reindex(assigned["tagID"].to_numpy()).to_numpy()
            known = pd.notna(words)
            item_text = _append_tags(
                item_text, assigned["artistID"][known].to_numpy(), pd.Series(words[known])
            )
        item_text.index.name, item_text.name = "item_id", "text"
    return _finish(
        table,
        "lastfm",
        mapping=mapping,
        skip_bad_rows=skip_bad_rows,
        bad=bad,
        kind="weight",
        item_text=item_text,
        source=folder,
    )

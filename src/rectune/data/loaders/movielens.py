"""MovieLens loaders: 100K (``u.data``), 1M (``ratings.dat``), latest (``ratings.csv``).

Each brings the side information its layout has: item text (title, genres, tags), item features
(genre flags, year) and user features (age, gender, occupation, zip).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from rectune.data.interactions import Interactions
from rectune.data.loaders._assemble import (
    RATING_COLUMNS,
    _append_tags,
    _BadRows,
    _finish,
    _layout,
    _resolve,
    _side,
)
from rectune.data.loaders._read import read_table
from rectune.data.loaders._table import ColType, FileSpec
from rectune.errors import DataError

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
YEAR_RE = re.compile(r"\((\d{4})\)\s*$")


# ---------------------------------------------------------------------------------- MovieLens
def load_ml100k(path: str | os.PathLike[str], *, skip_bad_rows: bool = False) -> Interactions:
    """MovieLens 100K: ``u.data`` plus ``u.item``, ``u.genre`` and ``u.user`` when present."""
    folder, ratings = _layout(path, "u.data")
    spec = FileSpec(ratings, "\t", RATING_COLUMNS, encoding="latin-1")
    table = read_table(spec, _ml_types(), required=())
    bad = _BadRows()
    genres = _ml100k_genres(folder / "u.genre")
    item_text = item_features = user_features = None
    if (folder / "u.item").is_file():
        names = ("item_id", "title", "release_date", "video_release_date", "imdb_url", *genres)
        types: dict[str, ColType] = {"item_id": "int", "title": "str", "release_date": "str"}
        types.update(dict.fromkeys(genres, "int"))
        items = _side(FileSpec(folder / "u.item", "|", names, "latin-1"), types, bad, skip_bad_rows)
        flags = items[list(genres)].astype(np.int8)
        flags.index = pd.Index(items["item_id"].to_numpy(), name="item_id")
        year = pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce").dt.year
        year = year.fillna(items["title"].str.extract(YEAR_RE, expand=False).astype(float))
        item_features = flags.assign(year=year.astype(float).to_numpy())
        named = flags.drop(columns=["unknown"], errors="ignore")
        item_text = _text(flags.index, items["title"], _flag_names(named))
    if (folder / "u.user").is_file():
        names = ("user_id", "age", "gender", "occupation", "zip")
        types = {"user_id": "int", "age": "int", "gender": "str", "occupation": "str", "zip": "str"}
        users = _side(FileSpec(folder / "u.user", "|", names, "latin-1"), types, bad, skip_bad_rows)
        user_features = _user_frame(users)
    return _finish(
        table,
        "ml-100k",
        skip_bad_rows=skip_bad_rows,
        bad=bad,
        item_text=item_text,
        item_features=item_features,
        user_features=user_features,
        source=folder,
    )


def load_ml1m(path: str | os.PathLike[str], *, skip_bad_rows: bool = False) -> Interactions:
    """MovieLens 1M: ``::``-separated ``ratings.dat`` plus ``movies.dat`` and ``users.dat``."""
    folder, ratings = _layout(path, "ratings.dat")
    table = read_table(FileSpec(ratings, "::", RATING_COLUMNS, "latin-1"), _ml_types())
    bad = _BadRows()
    item_text = item_features = user_features = None
    if (folder / "movies.dat").is_file():
        spec = FileSpec(folder / "movies.dat", "::", ("item_id", "title", "genres"), "latin-1")
        types: dict[str, ColType] = {"item_id": "int", "title": "str", "genres": "str"}
        items = _side(spec, types, bad, skip_bad_rows)
        item_text, item_features = _genre_side(items)
    if (folder / "users.dat").is_file():
        names = ("user_id", "gender", "age", "occupation", "zip")
        types = {"user_id": "int", "gender": "str", "age": "int", "occupation": "int", "zip": "str"}
        users = _side(
            FileSpec(folder / "users.dat", "::", names, "latin-1"), types, bad, skip_bad_rows
        )
        codes = users["occupation"].to_numpy()
        known = (codes >= 0) & (codes < len(ML1M_OCCUPATIONS))
        safe = np.where(known, codes, 0)
        users["occupation"] = np.where(known, np.asarray(ML1M_OCCUPATIONS, object)[safe], "other")
        user_features = _user_frame(users[["user_id", "age", "gender", "occupation", "zip"]])
    return _finish(
        table,
        "ml-1m",
        skip_bad_rows=skip_bad_rows,
        bad=bad,
        item_text=item_text,
        item_features=item_features,
        user_features=user_features,
        source=folder,
    )


def load_ml_latest(path: str | os.PathLike[str], *, skip_bad_rows: bool = False) -> Interactions:
    """MovieLens latest / latest-small: ``ratings.csv``, ``movies.csv``, ``tags.csv`` (as text)."""
    folder, ratings = _layout(path, "ratings.csv")
    spec = FileSpec(ratings, ",", quoting=True)
    mapping = _resolve(spec, None)
    types = {mapping[c]: t for c, t in _ml_types().items() if c in mapping}
    table = read_table(spec, types, required=())
    bad = _BadRows()
    item_text = item_features = None
    if (folder / "movies.csv").is_file():
        types = {"movieId": "int", "title": "str", "genres": "str"}
        items = _side(FileSpec(folder / "movies.csv", ",", quoting=True), types, bad, skip_bad_rows)
        items = items.rename(columns={"movieId": "item_id"})
        item_text, item_features = _genre_side(items)
        if (folder / "tags.csv").is_file():
            tspec = FileSpec(folder / "tags.csv", ",", quoting=True)
            ttypes: dict[str, ColType] = {"movieId": "int", "tag": "str"}
            tags = _side(tspec, ttypes, bad, skip_bad_rows, key=None)
            item_text = _append_tags(item_text, tags["movieId"], tags["tag"])
    return _finish(
        table,
        "ml-latest",
        mapping=mapping,
        skip_bad_rows=skip_bad_rows,
        bad=bad,
        item_text=item_text,
        item_features=item_features,
        source=folder,
    )


def _ml_types() -> dict[str, ColType]:
    return {"user_id": "int", "item_id": "int", "rating": "float", "timestamp": "int"}


def _ml100k_genres(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ML100K_GENRES
    rows = [ln.split("|") for ln in path.read_text(encoding="latin-1").splitlines() if ln.strip()]
    try:
        genres = tuple(name for name, _ in sorted(rows, key=lambda r: int(r[1])))
    except (ValueError, IndexError):
        raise DataError("expected 'name|index' lines", file=str(path)) from None
    return genres


def _genre_side(items: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Text and features from ``item_id, title, genres`` ('|'-separated genre names)."""
    genres = items["genres"].str.replace("(no genres listed)", "", regex=False)
    flags = genres.str.get_dummies(sep="|").astype(np.int8)
    flags.index = pd.Index(items["item_id"].to_numpy(), name="item_id")
    year = items["title"].str.extract(YEAR_RE, expand=False).astype(float).to_numpy()
    features = flags.assign(year=year)
    text = _text(flags.index, items["title"], genres.str.replace("|", ", ", regex=False).to_numpy())
    return text, features


def _flag_names(flags: pd.DataFrame) -> np.ndarray:
    names = np.asarray(flags.columns, dtype=object)
    return np.array([", ".join(names[row.astype(bool)]) for row in flags.to_numpy()], dtype=object)


def _text(index: pd.Index, titles: pd.Series, genres: np.ndarray) -> pd.Series:
    """``Title (1995) | Genre, Genre`` keyed by item id."""
    t = titles.to_numpy(dtype=object)
    g = np.asarray(genres, dtype=object)
    text = np.where(g == "", t, t + " | " + g)
    return pd.Series(text, index=index, name="text", dtype=object)


def _user_frame(users: pd.DataFrame) -> pd.DataFrame:
    out = users.set_index("user_id")
    for col in ("gender", "occupation"):
        if col in out:
            out[col] = out[col].astype("category")
    return out

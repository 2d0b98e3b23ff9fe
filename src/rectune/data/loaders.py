"""Dataset loaders: MovieLens 100K / 1M / latest, Last.fm HetRec 2011, generic CSV and Parquet.

Every loader returns an `Interactions` with raw ids, the source path, and whatever side
information the dataset has: item text (title, genres, tags), item features (genre one-hots and
year) and user features (age, gender, occupation, zip). Parsing is vectorised (pyarrow); a bad
row raises `DataError` naming the file, the 1-based line and the field, or with
``skip_bad_rows=True`` is dropped and counted in ``meta["bad_rows"]``. Structural problems (a
missing or empty file, a missing column, the wrong separator) always raise. Nothing half-loaded
is ever returned.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rectune.data._parse import (
    YEAR_RE,
    ColType,
    FileSpec,
    Issue,
    Table,
    read_header,
    read_table,
    resolve,
    sniff_delimiter,
)
from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions, ValueKind, resolve_columns
from rectune.errors import DataError

log = logging.getLogger(__name__)

Format = Literal["auto", "ml-100k", "ml-1m", "ml-latest", "lastfm", "csv", "parquet"]
FORMATS: tuple[str, ...] = ("auto", "ml-100k", "ml-1m", "ml-latest", "lastfm", "csv", "parquet")

#: The file whose presence in a directory identifies each layout, in detection order.
LAYOUT_FILES: dict[str, str] = {
    "ml-100k": "u.data",
    "ml-1m": "ratings.dat",
    "lastfm": "user_artists.dat",
    "ml-latest": "ratings.csv",
}
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
RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
#: Tags kept per item in the item text (most frequent first).
MAX_TAGS = 10


# ---------------------------------------------------------------------------------- entry point
def load(
    path: str | os.PathLike[str],
    format: Format | str = "auto",
    *,
    columns: Mapping[str, str] | None = None,
    skip_bad_rows: bool = False,
    kind: ValueKind | None = None,
    delimiter: str | None = None,
) -> Interactions:
    """Load a dataset directory or file as `Interactions`.

    Parameters
    ----------
    path
        A dataset directory (MovieLens, Last.fm) or a ratings file (``u.data``,
        ``ratings.dat``, ``ratings.csv``, any ``.csv``/``.tsv`` or ``.parquet``).
    format
        One of `FORMATS`; ``"auto"`` looks at the files in a directory or the file's name.
    columns
        For csv/parquet: canonical name (``user_id``, ``item_id``, ``rating`` or ``weight``,
        ``timestamp``) to the file's column name. Otherwise common spellings are recognised.
    skip_bad_rows
        Drop and count malformed, non-numeric, non-finite and duplicate rows (the first of a
        duplicate pair is kept) instead of raising.
    kind
        ``"rating"`` (explicit) or ``"weight"`` (implicit); by default the format decides.
    delimiter
        For csv: the separator; sniffed from the header line when omitted.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = f.write_text("userId,movieId,rating\\n1,10,4.5\\n2,10,3\\n")
    >>> data = load(f)
    >>> len(data), data.kind, data.meta["bad_rows"]
    (2, 'rating', 0)
    """
    fmt, target = detect_format(path) if format == "auto" else (str(format), Path(path))
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; expected one of {FORMATS}", file=str(path))
    if columns is not None and fmt not in {"csv", "parquet"}:
        raise DataError(f"columns= applies to csv and parquet, not to the {fmt} layout")
    if delimiter is not None and fmt != "csv":
        raise DataError(f"delimiter= applies to csv, not to the {fmt} layout")
    start = time.perf_counter()
    if fmt == "csv":
        data = load_csv(
            target, columns=columns, delimiter=delimiter, skip_bad_rows=skip_bad_rows, kind=kind
        )
    elif fmt == "parquet":
        data = load_parquet(target, columns=columns, skip_bad_rows=skip_bad_rows, kind=kind)
    else:
        loader = {
            "ml-100k": load_ml100k,
            "ml-1m": load_ml1m,
            "ml-latest": load_ml_latest,
            "lastfm": load_lastfm,
        }[fmt]
        data = loader(target, skip_bad_rows=skip_bad_rows)
        if kind is not None:
            data.kind = kind
    log.info("loaded %s (%s) in %.2fs: %r", path, fmt, time.perf_counter() - start, data)
    return data


def detect_format(path: str | os.PathLike[str]) -> tuple[str, Path]:
    """The format of a dataset directory or file, and the path its loader should get."""
    p = Path(path)
    if p.is_dir():
        for fmt, name in LAYOUT_FILES.items():
            if (p / name).is_file():
                return fmt, p
        tables = sorted(
            f for f in p.iterdir() if f.suffix.lower() in {".csv", ".tsv", ".parquet", ".pq"}
        )
        if len(tables) == 1:
            return detect_format(tables[0])
        raise DataError(
            "cannot tell the dataset layout: expected one of "
            f"{sorted(LAYOUT_FILES.values())} or a single .csv/.parquet file",
            file=str(p),
        )
    if not p.is_file():
        raise DataError("no such file or directory", file=str(p))
    for fmt, name in LAYOUT_FILES.items():
        if p.name == name and (fmt != "ml-latest" or (p.parent / "movies.csv").is_file()):
            return fmt, p
    if p.suffix.lower() in {".parquet", ".pq"}:
        return "parquet", p
    return "csv", p


def default_data_dir() -> Path | None:
    """Where the real datasets live: ``$RECTUNE_DATA_DIR``, else ``../shared/data``.

    ``../shared/data`` is tried relative to the repository and to the working directory.
    Returns None when nothing is found (tests that need real data skip then).
    """
    env = os.environ.get("RECTUNE_DATA_DIR")
    if env:
        if Path(env).is_dir():
            return Path(env)
        log.warning("RECTUNE_DATA_DIR=%s is not a directory", env)
        return None
    repo = Path(__file__).resolve().parents[3]
    for base in (repo, Path.cwd()):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return None


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


# ---------------------------------------------------------------------------------- generic
def load_csv(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    skip_bad_rows: bool = False,
    kind: ValueKind | None = None,
) -> Interactions:
    """A delimited file with a header line; the separator is sniffed unless given."""
    p = Path(path)
    if delimiter is None:
        from rectune.data._parse import first_line

        delimiter = sniff_delimiter(first_line(p, "utf-8")[1])
    spec = FileSpec(p, delimiter, quoting=delimiter != "::")
    columns, kind = _weight_alias(columns, kind)
    mapping = _resolve(spec, columns)
    types: dict[str, ColType] = {mapping["user_id"]: "id", mapping["item_id"]: "id"}
    if "rating" in mapping:
        types[mapping["rating"]] = "float"
    if "timestamp" in mapping:
        types[mapping["timestamp"]] = "time"
    table = read_table(spec, types)
    return _finish(table, "csv", mapping=mapping, skip_bad_rows=skip_bad_rows, kind=kind, source=p)


def load_parquet(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    skip_bad_rows: bool = False,
    kind: ValueKind | None = None,
) -> Interactions:
    """A Parquet file; "line" in error messages is the 1-based row number."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rectune.data._parse import _convert

    p = Path(path)
    if not p.is_file():
        raise DataError("file not found", file=str(p))
    try:
        schema = pq.read_schema(p)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", file=str(p)) from None
    columns, kind = _weight_alias(columns, kind)
    try:
        mapping = resolve_columns(list(schema.names), columns)
    except DataError as exc:
        raise DataError(exc.reason, file=str(p), field=exc.field) from None
    types: dict[str, ColType] = {mapping["user_id"]: "id", mapping["item_id"]: "id"}
    if "rating" in mapping:
        types[mapping["rating"]] = "float"
    if "timestamp" in mapping:
        types[mapping["timestamp"]] = "time"
    raw = pq.read_table(p, columns=list(types))
    if raw.num_rows == 0:
        raise DataError("no data rows", file=str(p), line=1)
    table = Table(None, pd.DataFrame(index=pd.RangeIndex(raw.num_rows)), tuple(types), source=p)
    for col, t in types.items():
        series, issue = _convert(raw.column(col), col, t, required=False)
        table.frame[col] = series
        if issue is not None:
            table.issues.append(issue)
    return _finish(
        table, "parquet", mapping=mapping, skip_bad_rows=skip_bad_rows, kind=kind, source=p
    )


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


def _weight_alias(
    columns: Mapping[str, str] | None, kind: ValueKind | None
) -> tuple[dict[str, str] | None, ValueKind | None]:
    """Accept ``weight`` as a key of ``columns`` (implicit data) and reject unknown keys."""
    if columns is None:
        return None, kind
    cols = dict(columns)
    allowed = {"user_id", "item_id", "rating", "weight", "timestamp"}
    unknown = sorted(set(cols) - allowed)
    if unknown:
        raise DataError(f"unknown keys {unknown} in columns=; expected some of {sorted(allowed)}")
    if "weight" in cols:
        if "rating" in cols:
            raise DataError("columns= names both a rating and a weight column")
        cols["rating"] = cols.pop("weight")
        kind = kind or "weight"
    return cols, kind


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


def _user_frame(users: pd.DataFrame) -> pd.DataFrame:
    out = users.set_index("user_id")
    for col in ("gender", "occupation"):
        if col in out:
            out[col] = out[col].astype("category")
    return out


def _py(value: Any) -> Any:
    """A numpy scalar as the plain Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value

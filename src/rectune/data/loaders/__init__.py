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
from typing import Literal

from rectune.data.interactions import Interactions, ValueKind
from rectune.data.loaders._assemble import MAX_TAGS, RATING_COLUMNS
from rectune.data.loaders.lastfm import load_lastfm
from rectune.data.loaders.movielens import (
    ML1M_OCCUPATIONS,
    ML100K_GENRES,
    load_ml1m,
    load_ml100k,
    load_ml_latest,
)
from rectune.data.loaders.tabular import load_csv, load_parquet
from rectune.errors import DataError

__all__ = [
    "FORMATS",
    "LAYOUT_FILES",
    "MAX_TAGS",
    "ML1M_OCCUPATIONS",
    "ML100K_GENRES",
    "RATING_COLUMNS",
    "Format",
    "default_data_dir",
    "detect_format",
    "load",
    "load_csv",
    "load_lastfm",
    "load_ml1m",
    "load_ml100k",
    "load_ml_latest",
    "load_parquet",
]

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
    repo = Path(__file__).resolve().parents[4]  # src/rectune/data/loaders/
    for base in (repo, Path.cwd()):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return None

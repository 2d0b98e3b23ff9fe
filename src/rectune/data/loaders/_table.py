"""The parsed-table types shared by the loaders: file layout, per-row issues, parsed rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

#: How a column is converted: integer, finite-or-not float, raw id (int if every value is an
#: integer, else str), plain string, or time (unix seconds, or date strings converted to them).
ColType = Literal["int", "float", "id", "str", "time"]

SEPARATOR_NAMES: dict[str, str] = {
    "\t": "tab",
    ",": "comma",
    ";": "semicolon",
    "|": "pipe",
    "::": "'::'",
}


@dataclass(frozen=True)
class FileSpec:
    """Where and how a delimited file is laid out.

    ``names`` are the column names of a headerless file; ``None`` means the first line is a
    header. ``quoting`` enables CSV double quotes (off for the MovieLens ``.dat`` layouts, whose
    titles contain bare quotes).
    """

    path: Path
    delimiter: str
    names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    quoting: bool = False

    @property
    def header(self) -> bool:
        return self.names is None

    @property
    def sep_name(self) -> str:
        return SEPARATOR_NAMES.get(self.delimiter, repr(self.delimiter))


@dataclass
class Issue:
    """Rows that fail one check: a boolean mask, the field and a reason for a given row.

    ``first_of`` (for duplicates) gives, for a row, the row of the earlier occurrence, so the
    message can name both lines.
    """

    mask: np.ndarray
    field: str
    reason: Callable[[int], str]
    first_of: Callable[[int], int] | None = None


@dataclass
class Table:
    """Parsed rows of one file, converted by column type, plus what was wrong with them.

    ``spec`` is None for a file without lines (Parquet): row ``r`` is then reported as line
    ``r + 1`` of ``source``.
    """

    spec: FileSpec | None
    frame: pd.DataFrame
    columns: tuple[str, ...]
    n_malformed: int = 0
    issues: list[Issue] = field(default_factory=list)
    source: Path | None = None

    @property
    def file(self) -> str:
        return str(self.spec.path if self.spec is not None else self.source)

    def bad_mask(self) -> np.ndarray:
        bad = np.zeros(len(self.frame), dtype=bool)
        for issue in self.issues:
            bad |= issue.mask
        return bad

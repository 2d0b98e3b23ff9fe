"""Typed exceptions raised by rectune.

Every error a user can cause names what went wrong and where: a `DataError` carries the file,
line and field of the offending input, so a bad row in a million-line file is found at once.
"""

from __future__ import annotations


class RectuneError(Exception):
    """Base class of every rectune error."""


class DataError(RectuneError, ValueError):
    """Invalid input data, located by file, line (1-based) and field where known.

    In-memory input has no lines: ``row`` is then the 0-based position of the bad event.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        row: int | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.row = row
        self.reason = message
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(RectuneError, ValueError):
    """An invalid configuration value, override or strategy."""


class NotFittedError(RectuneError, RuntimeError):
    """A model was used before `fit` (or `load`)."""


class UnknownIdError(RectuneError, KeyError):
    """An id that the model or id map does not know, where no fallback applies."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown id"


class ArtifactError(RectuneError, ValueError):
    """A saved artifact is missing, corrupt, or fails its checksum manifest."""


class RegistryError(RectuneError):
    """A registry operation failed: unknown version or alias, no rollback target, or metadata
    that cannot be read or written (the message names the file and the step)."""

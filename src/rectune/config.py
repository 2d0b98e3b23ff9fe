"""Frozen, typed configuration objects with TOML loading and ``key=value`` overrides.

Model hyperparameters live in a subclass of `ConfigBase` (pydantic, frozen, ``extra="forbid"``),
so a typo in a hyperparameter name is an error rather than a silently ignored option.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from rectune.errors import ConfigError


class ConfigBase(BaseModel):
    """Base of every configuration: immutable, strict about unknown keys, JSON round-trippable."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dictionary of the fields."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """Build and validate from a mapping; errors name the offending field."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise ConfigError(_format_validation(cls.__name__, exc)) from None

    def with_overrides(self, **changes: Any) -> Self:
        """A validated copy with some fields replaced."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _format_validation(name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return f"invalid {name}: " + "; ".join(parts)


def parse_value(text: str) -> Any:
    """Parse the value of a ``--set key=value`` override as a TOML literal, else a string."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["a=1", "b=pearson"]`` into ``{"a": 1, "b": "pearson"}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value")
        out[key.strip()] = parse_value(value)
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None

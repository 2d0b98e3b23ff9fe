"""Search spaces for `rectune.tuning.tune`: read from TOML, checked field by field.

A space file holds one ``[params.NAME]`` table per searched hyperparameter and an optional
``[fixed]`` table of values every trial uses::

    [params.embedding_size]
    type = "int"
    low = 16
    high = 256
    log = true

    [params.reg]
    type = "float"
    low = 1e-3
    high = 1.0
    log = true

    [params.similarity]
    type = "categorical"
    choices = ["cosine", "pearson"]

    [fixed]
    epochs = 20

``int`` and ``float`` take ``low`` < ``high``, optional ``log`` (needs ``low`` > 0) and ``step``
(not with ``log``); ``categorical`` takes a non-empty ``choices`` list of strings, numbers or
booleans. Anything else (an unknown key, a wrong type, a name in both tables) is a `ConfigError`
naming the file and the field.

Examples
--------
>>> space = SearchSpace.from_dict({"params": {"reg": {"type": "float", "low": 0.01,
...     "high": 1.0, "log": True}}, "fixed": {"epochs": 5}})
>>> space.names, space.fixed
(['reg'], {'epochs': 5})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rectune.config import load_toml
from rectune.errors import ConfigError

ParamType = Literal["int", "float", "categorical"]
Scalar = str | int | float | bool

_KEYS: dict[str, set[str]] = {
    "int": {"type", "low", "high", "log", "step"},
    "float": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter."""

    name: str
    type: ParamType
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Scalar, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The TOML table of this parameter (the study records it to refuse a changed space)."""
        if self.type == "categorical":
            return {"type": self.type, "choices": list(self.choices)}
        out: dict[str, Any] = {"type": self.type, "low": self.low, "high": self.high}
        out["log"] = self.log
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass(frozen=True)
class SearchSpace:
    """Searched parameters and fixed values, in file order."""

    params: tuple[Param, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    source: str = "<space>"

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def to_dict(self) -> dict[str, Any]:
        return {"params": {p.name: p.to_dict() for p in self.params}, "fixed": dict(self.fixed)}

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        """Read and check a space file; errors name the file and the field."""
        return cls.from_dict(load_toml(path), source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "<space>") -> SearchSpace:
        """Check a parsed space (the TOML's tables) and build it."""

        def fail(where: str, msg: str) -> ConfigError:
            return ConfigError(f"{source}: {where}: {msg}")

        unknown = sorted(set(raw) - {"params", "fixed"})
        if unknown:
            raise fail(unknown[0], "unknown table or key; a space has [params.NAME] and [fixed]")
        tables = raw.get("params", {})
        fixed = raw.get("fixed", {})
        if not isinstance(tables, Mapping) or not tables:
            raise fail("params", "needs at least one [params.NAME] table")
        if not isinstance(fixed, Mapping):
            raise fail("fixed", "must be a table of name = value")
        params = []
        for name, table in tables.items():
            where = f"params.{name}"
            if not isinstance(table, Mapping):
                raise fail(where, "must be a table with type = int|float|categorical")
            if name in fixed:
                raise fail(where, "is also in [fixed]")
            params.append(_param(name, table, lambda msg, w=where: fail(w, msg)))
        return cls(params=tuple(params), fixed=dict(fixed), source=source)


def _param(name: str, table: Mapping[str, Any], fail: Any) -> Param:
    kind = table.get("type")
    if kind not in _KEYS:
        raise fail(f"type must be 'int', 'float' or 'categorical', got {kind!r}")
    extra = sorted(set(table) - _KEYS[kind])
    if extra:
        raise fail(f"unknown key {extra[0]!r} for type {kind!r} (takes {sorted(_KEYS[kind])})")
    if kind == "categorical":
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise fail("choices must be a non-empty list")
        if not all(isinstance(c, str | int | float | bool) for c in choices):
            raise fail("choices must be strings, numbers or booleans")
        if len({repr(c) for c in choices}) != len(choices):
            raise fail("choices must be distinct")
        return Param(name, "categorical", choices=tuple(choices))
    bounds = {}
    for key in ("low", "high"):
        if key not in table:
            raise fail(f"missing {key!r}")
        value = table[key]
        ok = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or not math.isfinite(value):
            raise fail(f"{key} must be a finite {'integer' if kind == 'int' else 'number'}")
        bounds[key] = value
    low, high = bounds["low"], bounds["high"]
    if not low < high:
        raise fail(f"low ({low}) must be below high ({high})")
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise fail("log must be true or false")
    if log and low <= 0:
        raise fail("log = true needs low > 0")
    step = table.get("step")
    if step is not None:
        if log:
            raise fail("step cannot be combined with log = true")
        int_ok = isinstance(step, int) if kind == "int" else isinstance(step, int | float)
        if isinstance(step, bool) or not int_ok or step <= 0:
            raise fail("step must be a positive number")
    return Param(name, kind, low=low, high=high, log=log, step=step)


__all__ = ["Param", "SearchSpace"]

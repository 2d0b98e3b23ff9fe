"""`FinetuneStrategy`: one fine-tuning configuration for every model (see DESIGN.md).

Strategies address parameter groups by name or glob (``user_*``); naming a group the model does
not have is an error listing the groups it has. A model that cannot honour a setting raises,
naming the setting: nothing is silently ignored.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from rectune.config import ConfigBase, parse_overrides
from rectune.errors import ConfigError

NewIds = Literal["zeros", "mean", "features", "neighbors", "text"]
Augment = Literal["none", "pseudo", "negatives", "popular-negatives"]

#: Named presets accepted where a strategy is expected (CLI ``--strategy NAME``).
PRESETS: dict[str, dict[str, Any]] = {
    "plain": {},
    "l2sp": {"l2sp": 0.1},
    "freeze-items": {"freeze": ["item_*"]},
    "replay": {"replay": 0.2},
    "l2sp-replay": {"l2sp": 0.1, "replay": 0.2},
}


class FinetuneStrategy(ConfigBase):
    """How a fine-tune departs from plain continued training (all settings combine)."""

    l2sp: float | dict[str, float] = 0.0
    """L2-SP penalty ``lambda * ||theta - theta_parent||^2``: one lambda for every group, or a
    lambda per group name/glob. 0 is plain continued training; a huge lambda keeps the parent.
    Every lambda must be finite and >= 0 (a negative one would reward leaving the parent)."""
    freeze: list[str] = Field(default_factory=list)
    """Groups (names or globs) left bit-identical."""
    clip_norm: float | None = Field(None, gt=0, allow_inf_nan=False)
    """Clip each update's gradient to this L2 norm (per row)."""
    new_ids: NewIds = "mean"
    """How rows of unseen users/items start: zeros, mean of known rows, regression from side
    features, average of the most similar known rows, or a map from text embeddings."""
    replay: float = Field(0.0, ge=0, le=10)
    """Parent training rows mixed in, as a multiple of the new data's size (anti-forgetting)."""
    augment: Augment = "none"
    """pseudo: parent-model ratings on sampled old pairs; negatives / popular-negatives: extra
    sampled negatives for implicit models (uniform / popularity-weighted)."""
    augment_ratio: float = Field(0.5, ge=0, le=10)
    """Augmented rows per new row."""
    neighbors: int = Field(10, ge=1)
    """new_ids=neighbors: how many similar known rows to average."""
    text_encoder: str = "minilm"
    """new_ids=text: the `TextEncoder` embedding item text (``minilm`` or a local model dir)."""

    @field_validator("l2sp")
    @classmethod
    def _check_l2sp(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for group, lam in items:
            if not math.isfinite(lam) or lam < 0:
                where = "l2sp" if group is None else f"l2sp[{group!r}]"
                raise ValueError(f"{where} must be a finite lambda >= 0, got {lam!r}")
        return value

    @field_validator("freeze", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @classmethod
    def parse(cls, spec: FinetuneStrategy | Mapping[str, Any] | str | None) -> FinetuneStrategy:
        """A strategy from an instance, a mapping, a preset name, or ``k=v,k=v`` text."""
        if spec is None:
            return cls()
        if isinstance(spec, FinetuneStrategy):
            return spec
        if isinstance(spec, Mapping):
            return cls.from_dict(spec)
        spec = spec.strip()
        if spec in PRESETS:
            return cls.from_dict(PRESETS[spec])
        if "=" not in spec:
            raise ConfigError(
                f"unknown strategy {spec!r}; presets: {', '.join(PRESETS)}, "
                "or settings such as 'l2sp=0.1;freeze=item_*;replay=0.2'"
            )
        items = [s for s in spec.replace(";", "\n").splitlines() if s.strip()]
        return cls.from_dict(parse_overrides(items))

    def used(self) -> set[str]:
        """The settings that differ from plain continued training."""
        out = set()
        if self.l2sp:
            out.add("l2sp")
        if self.freeze:
            out.add("freeze")
        if self.clip_norm is not None:
            out.add("clip_norm")
        if self.replay:
            out.add("replay")
        if self.augment != "none":
            out.add(f"augment={self.augment}")
        return out

    def lambdas(self, groups: Iterable[str]) -> dict[str, float]:
        """The L2-SP lambda of every group (0 where none applies)."""
        groups = list(groups)
        if isinstance(self.l2sp, int | float):
            return dict.fromkeys(groups, float(self.l2sp))
        out = dict.fromkeys(groups, 0.0)
        for pattern, lam in self.l2sp.items():
            for g in match_groups(pattern, groups, setting="l2sp"):
                out[g] = float(lam)
        return out

    def frozen(self, groups: Iterable[str]) -> set[str]:
        """The groups the ``freeze`` patterns select."""
        groups = list(groups)
        out: set[str] = set()
        for pattern in self.freeze:
            out.update(match_groups(pattern, groups, setting="freeze"))
        return out


def match_groups(pattern: str, groups: list[str], *, setting: str) -> list[str]:
    """Groups matching a name or glob; no match is an error listing the groups there are."""
    hits = [g for g in groups if fnmatch.fnmatchcase(g, pattern)]
    if not hits:
        listed = ", ".join(groups) if groups else "none"
        raise ConfigError(f"{setting}: no parameter group matches {pattern!r}; groups: {listed}")
    return hits

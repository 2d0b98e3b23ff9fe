"""`TuneResult`: what a search found, its JSON record and the best config as TOML."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TuneResult:
    """Trials of a study, the best trial's parameters and the test figures of tuned and default."""

    model: str
    metric: str
    direction: str
    """``minimize`` (rmse, mae) or ``maximize`` (ranking metrics)."""
    study_name: str
    storage: str | None
    record: dict[str, Any]
    """The settings the study was started with (model, metric, space, split, validation)."""
    data_path: str | None
    trials: list[dict[str, Any]]
    """Every trial: number, state (complete/pruned/fail), params, validation value, the
    per-epoch validation values it reported (``intermediate``) and its ``epoch_history``."""
    best_trial: int
    best_params: dict[str, Any]
    """Fixed values plus the best trial's parameters: the config written by `best_toml`."""
    best_value: float
    """The best trial's validation value."""
    test: dict[str, dict[str, float]]
    """``{"tuned": {...}, "default": {...}}``: metric means on the untouched test split, plus
    fit and predict seconds."""
    default_params: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """``search`` (the trials run by this call), ``refit`` (best config on the training part
    and the test score), ``ran_trials`` (how many this call ran)."""

    @property
    def n_pruned(self) -> int:
        return sum(t["state"] == "pruned" for t in self.trials)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` record (``kind: "tune"``, read by ``rectune report``)."""
        return {
            "kind": "tune",
            "model": self.model,
            "metric": self.metric,
            "direction": self.direction,
            "study_name": self.study_name,
            "storage": self.storage,
            "data": {"path": self.data_path, "fingerprint": self.record["data_fingerprint"]},
            "split": self.record["split"],
            "validation": self.record["validation"],
            "space": self.record["space"],
            "n_trials": len(self.trials),
            "n_pruned": self.n_pruned,
            "trials": self.trials,
            "best": {
                "trial": self.best_trial,
                "value": self.best_value,
                "params": self.best_params,
            },
            "default_params": self.default_params,
            "test": self.test,
            "seconds": self.seconds,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to TOML")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {type(value).__name__} to TOML")


def best_toml(result: TuneResult) -> str:
    """The best config: ``model``, ``[params]`` and the ``[evaluate]`` split of the test figure,
    so ``rectune evaluate --config FILE`` reproduces the tuned test value."""
    split = dict(result.record["split"])
    tuned = result.test["tuned"].get(result.metric)
    lines = [
        f"# rectune tune: study {result.study_name!r}, best of {len(result.trials)} trials "
        f"(trial {result.best_trial})",
        f"# validation {result.metric} = {result.best_value:.6g}; test {result.metric} = "
        f"{tuned:.6g} (default {result.test['default'].get(result.metric, math.nan):.6g})",
        f"model = {_toml_value(result.model)}",
        "",
        "[params]",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in result.best_params.items()]
    lines += ["", "[evaluate]", f"split = {_toml_value(split.pop('method'))}"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in split.items()]
    lines.append(f"metrics = {_toml_value([result.metric])}")
    return "\n".join(lines) + "\n"


__all__ = ["TuneResult", "best_toml"]

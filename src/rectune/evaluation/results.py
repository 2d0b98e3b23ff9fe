"""Results of `rectune.evaluation.evaluate`: per-fold scores and their JSON record.

A `FoldResult` keeps, beside its metric values, the per-pair errors and per-user ranking values
(not in the JSON) so that two models run on the same split can be compared with paired tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FoldResult:
    """Scores of one train/test split plus the raw material for significance tests."""

    metrics: dict[str, float]
    """Metric name (canonical, e.g. ``ndcg@10``) -> value on this fold."""
    fit_seconds: float
    """Wall time of ``model.fit`` on the training rows."""
    predict_seconds: float
    """Wall time of computing the rating estimates and the rankings (not the metrics)."""
    test_rows: np.ndarray = field(repr=False)
    """Row indices of the test set in the evaluated data (errors follow this order)."""
    n_train: int = 0
    errors: np.ndarray | None = field(default=None, repr=False)
    """Estimate minus truth for each test row, when a rating metric was asked for."""
    ranked_users: np.ndarray | None = field(default=None, repr=False)
    """Raw ids of the ranked test users (the order of the per-user arrays)."""
    per_user: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Ranking metric name -> one value per ranked user."""
    epoch_history: list[dict[str, float]] = field(default_factory=list)
    """Per-epoch training loss of the fit (``fit_info_["epoch_history"]``; [] if none)."""

    @property
    def n_test(self) -> int:
        return len(self.test_rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "epoch_history": self.epoch_history,
        }


@dataclass
class EvaluationResult:
    """Per-fold scores of one model on one dataset and split; `to_json` for the record."""

    model: str
    config: dict[str, Any]
    data_path: str | None
    data_fingerprint: str
    split: dict[str, Any]
    folds: list[FoldResult]
    metric_names: list[str] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        """Mean over folds of every metric, ``fit_seconds`` and ``predict_seconds``."""
        names = self.metric_names or (list(self.folds[0].metrics) if self.folds else [])
        out = {n: _mean([f.metrics.get(n, math.nan) for f in self.folds]) for n in names}
        out["fit_seconds"] = _mean([f.fit_seconds for f in self.folds])
        out["predict_seconds"] = _mean([f.predict_seconds for f in self.folds])
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record (NaN becomes null)."""
        return {
            "model": self.model,
            "config": self.config,
            "data": {"path": self.data_path, "fingerprint": self.data_fingerprint},
            "split": self.split,
            "folds": [f.to_dict() for f in self.folds],
            "mean": {k: _json_float(v) for k, v in self.mean.items()},
        }

    def to_json(self, indent: int | None = 2) -> str:
        """``{"model", "config", "data": {"path", "fingerprint"}, "split", "folds", "mean"}``."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> EvaluationResult:
        """Rebuild from `to_dict` output (per-pair and per-user arrays are not restored)."""
        folds = [
            FoldResult(
                metrics={k: math.nan if v is None else float(v) for k, v in f["metrics"].items()},
                fit_seconds=float(f["fit_seconds"]),
                predict_seconds=float(f["predict_seconds"]),
                test_rows=np.zeros(0, dtype=np.int64),
            )
            for f in obj["folds"]
        ]
        return cls(
            model=obj["model"],
            config=dict(obj["config"]),
            data_path=obj["data"]["path"],
            data_fingerprint=obj["data"]["fingerprint"],
            split=dict(obj["split"]),
            folds=folds,
            metric_names=list(folds[0].metrics) if folds else [],
        )

    @classmethod
    def from_json(cls, text: str) -> EvaluationResult:
        return cls.from_dict(json.loads(text))


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _json_float(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


__all__ = ["EvaluationResult", "FoldResult"]

"""Paired comparison of two fitted models on one test set, with bootstrap significance.

Both models are scored on the same rows: rating metrics pair the two estimates of each test
rating, ranking metrics the two values of each test user. The difference ``B - A`` gets a paired
bootstrap 95% interval (the same resampled users or ratings for both models, so what they share
cancels out; Efron and Tibshirani 1993, "An Introduction to the Bootstrap", ch. 16) and a
two-sided bootstrap p-value, the share of replicates whose centred difference is at least as far
from 0 as the observed one (Berg-Kirkpatrick et al. 2012, "An empirical investigation of
statistical significance in NLP"). RMSE is resampled on squared errors, then square-rooted.

With ``old_data`` (the parent's training or validation rows) the same metrics are also computed
there, for retention: how much a fine-tuned B forgot relative to A. Ranking on old data does not
exclude seen items, since the old rows are training rows of both models.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.data.interactions import Interactions
from rectune.data.loaders import load
from rectune.errors import ConfigError
from rectune.evaluation.metric_names import (
    check_cutoffs,
    check_rating_metrics,
    predicts_ratings,
)
from rectune.evaluation.metrics import MetricSpec, parse_metrics, ranking_metrics
from rectune.evaluation.splits import split_rows
from rectune.models.base import Recommender

#: Bootstrap replicates drawn at once (bounds memory to about ``_BLOCK * n`` indices).
_BLOCK = 64


@dataclass
class ComparisonResult:
    """Metrics of A and B on the same test set, the paired delta B - A and its significance.

    ``metrics`` maps a metric name to ``{"a", "b", "delta", "ci_low", "ci_high", "p_value",
    "n"}``; ``retention`` holds the same for the old data (or is None).
    """

    a: dict[str, Any]
    b: dict[str, Any]
    data: dict[str, Any]
    split: dict[str, Any] | None
    metrics: dict[str, dict[str, float | int | None]]
    retention: dict[str, Any] | None
    n_boot: int
    seed: int
    per_unit: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    """Metric name -> the paired per-user (or per-rating) values of A and B."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout (NaN becomes null)."""
        return {
            "a": self.a,
            "b": self.b,
            "data": self.data,
            "split": self.split,
            "metrics": _clean(self.metrics),
            "retention": _clean(self.retention),
            "n_boot": self.n_boot,
            "seed": self.seed,
            "deltas": {name: unit_deltas(name, a, b) for name, (a, b) in self.per_unit.items()},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def unit_deltas(metric: str, a: np.ndarray, b: np.ndarray, bins: int = 30) -> dict[str, Any]:
    """Summary of the per-unit differences B - A of one metric (the JSON's ``deltas``).

    Units are test users for ranking metrics and test ratings for rating metrics (whose values
    are squared errors for rmse, absolute errors for mae: lower is better). ``better``,
    ``worse`` and ``same`` count the units where B beats, trails or ties A; ``hist`` is a
    histogram of the differences and ``quantiles`` their 5/25/50/75/95th percentiles.

    Examples
    --------
    >>> d = unit_deltas("ndcg@10", np.array([0.1, 0.5, 0.2]), np.array([0.3, 0.5, 0.1]), bins=2)
    >>> d["unit"], d["better"], d["worse"], d["same"], d["hist"]["counts"]
    ('user', 1, 1, 1, [2, 1])
    """
    kind = parse_metrics([metric])[0].kind
    diff = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    sign = -1.0 if kind == "rating" else 1.0
    out: dict[str, Any] = {
        "unit": "rating" if kind == "rating" else "user",
        "value": {"rmse": "squared error", "mae": "absolute error"}.get(metric, metric),
        "n": len(diff),
        "better": int((sign * diff > 1e-12).sum()),
        "worse": int((sign * diff < -1e-12).sum()),
    }
    out["same"] = out["n"] - out["better"] - out["worse"]
    if len(diff):
        counts, edges = np.histogram(diff, bins=bins)
        qs = np.quantile(diff, [0.05, 0.25, 0.5, 0.75, 0.95])
        out["hist"] = {"edges": edges.tolist(), "counts": counts.tolist()}
        out["quantiles"] = dict(zip(("p5", "p25", "p50", "p75", "p95"), qs.tolist(), strict=True))
    return out


def compare(
    model_a: Recommender | str | os.PathLike[str],
    model_b: Recommender | str | os.PathLike[str],
    data: Interactions | str | os.PathLike[str],
    *,
    split: str | Mapping[str, Any] | None = None,
    metrics: str | Sequence[str] | None = ("rmse", "ndcg@10"),
    seed: int = 0,
    n_boot: int = 2000,
    old_data: Interactions | str | os.PathLike[str] | None = None,
) -> ComparisonResult:
    """Compare two fitted models (or artifact directories) on the same test data.

    Parameters
    ----------
    model_a, model_b
        Fitted models or artifact directories (`Recommender.load`). A is the reference:
        deltas are B - A.
    data
        The test interactions, or a dataset path. With ``split`` only the test part of that
        split is used (e.g. the split the models were trained with).
    split
        None (all of ``data`` is test data), a split method name or a mapping
        ``{"method": ..., option: value}`` (see `rectune.evaluation.split_rows`; the first
        train/test pair is used).
    metrics
        Rating metrics (``rmse``, ``mae``; refused for a model that only ranks) and per-user
        ranking metrics (``ndcg@10``, ...; the cut-off at most the larger catalogue). None:
        ``ndcg@10, recall@10`` for implicit data or a model that only ranks, else
        ``rmse, ndcg@10``.
    seed
        Seed of the split and of the bootstrap.
    n_boot
        Bootstrap replicates.
    old_data
        The parent's training or validation data: metrics there give the retention.

    Examples
    --------
    >>> from rectune.models.baselines import Baseline
    >>> data = Interactions.from_raw([1, 1, 2, 2, 3, 3], list("ababab"), [5, 3, 4, 2, 5, 1])
    >>> a = Baseline().fit(data)
    >>> res = compare(a, a, data, metrics=["rmse"], n_boot=200)
    >>> res.metrics["rmse"]["delta"], res.metrics["rmse"]["ci_low"], res.metrics["rmse"]["p_value"]
    (0.0, 0.0, 1.0)
    """
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}")
    specs = None if metrics is None else parse_metrics(metrics)  # fail fast on a bad name
    a, a_info = _model(model_a)
    b, b_info = _model(model_b)
    data, data_path = _data(data)
    if specs is None:
        ranks = data.is_implicit or False in (predicts_ratings(a), predicts_ratings(b))
        specs = parse_metrics(["ndcg@10", "recall@10"] if ranks else ["rmse", "ndcg@10"])
    if any(s.kind == "catalogue" for s in specs):
        raise ConfigError("compare takes per-user or per-rating metrics; coverage has no pairs")
    check_rating_metrics(a, specs)
    check_rating_metrics(b, specs)
    check_cutoffs(specs, max(len(a.item_map_), len(b.item_map_)))
    split_info = None
    test = data
    if split is not None:
        method, options = (split, {}) if isinstance(split, str) else _split_mapping(split)
        options.setdefault("seed", seed)
        _, test_rows = next(iter(split_rows(data, method, **options)))
        test = data.subset(test_rows)
        split_info = {"method": method, **options}
    rng = np.random.default_rng(seed)
    table, per_unit = _paired(a, b, test, specs, rng, n_boot, exclude_seen=True)
    retention = None
    if old_data is not None:
        old, old_path = _data(old_data)
        old_table, _ = _paired(a, b, old, specs, rng, n_boot, exclude_seen=False)
        retention = {
            "data": {"path": old_path, "fingerprint": old.fingerprint()},
            "metrics": old_table,
        }
    return ComparisonResult(
        a=a_info,
        b=b_info,
        data={"path": data_path, "fingerprint": data.fingerprint()},
        split=split_info,
        metrics=table,
        retention=retention,
        n_boot=n_boot,
        seed=seed,
        per_unit=per_unit,
    )


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_boot: int = 2000,
    rng: np.random.Generator | int = 0,
    root: bool = False,
    level: float = 0.95,
) -> tuple[float, float, float, float]:
    """Delta ``stat(b) - stat(a)``, its percentile CI and two-sided p-value.

    ``stat`` is the mean, or its square root with ``root`` (RMSE from squared errors). Units
    (users or ratings) are resampled together for both models.

    Examples
    --------
    >>> a, b = np.zeros(50), np.ones(50)
    >>> paired_bootstrap(a, b, n_boot=100)
    (1.0, 1.0, 1.0, 0.009900990099009901)
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = len(a)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    stat = (lambda m: np.sqrt(m)) if root else (lambda m: m)
    delta = float(stat(b.mean()) - stat(a.mean()))
    reps = np.empty(n_boot)
    for start in range(0, n_boot, _BLOCK):
        m = min(_BLOCK, n_boot - start)
        idx = rng.integers(0, n, size=(m, n))
        reps[start : start + m] = stat(b[idx].mean(axis=1)) - stat(a[idx].mean(axis=1))
    alpha = (1.0 - level) / 2
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    extreme = np.abs(reps - delta) >= abs(delta) - 1e-12
    p = (1.0 + extreme.sum()) / (n_boot + 1.0)
    return delta, float(low), float(high), float(min(1.0, p))


def _paired(
    a: Recommender,
    b: Recommender,
    test: Interactions,
    specs: list[MetricSpec],
    rng: np.random.Generator,
    n_boot: int,
    *,
    exclude_seen: bool,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    ua = _units(a, test, specs, exclude_seen)
    ub = _units(b, test, specs, exclude_seen)
    table: dict[str, dict[str, Any]] = {}
    per_unit = {}
    for s in specs:
        va, vb = ua[s.name], ub[s.name]
        root = s.base == "rmse"
        delta, low, high, p = paired_bootstrap(va, vb, n_boot=n_boot, rng=rng, root=root)
        agg = _root_mean if root else _mean
        table[s.name] = {
            "a": agg(va) if len(va) else math.nan,
            "b": agg(vb) if len(vb) else math.nan,
            "delta": delta,
            "ci_low": low,
            "ci_high": high,
            "p_value": p,
            "n": len(va),
        }
        per_unit[s.name] = (va, vb)
    return table, per_unit


def _units(
    model: Recommender, test: Interactions, specs: list[MetricSpec], exclude_seen: bool
) -> dict[str, np.ndarray]:
    """Per-rating (squared or absolute errors) or per-user (ranking) values of one model."""
    out: dict[str, np.ndarray] = {}
    rating = [s for s in specs if s.kind == "rating"]
    ranking = [s for s in specs if s.kind == "ranking"]
    u_lookup = model.user_map_.index_of(test.user_map.ids)
    if rating:
        i_lookup = model.item_map_.index_of(test.item_map.ids)
        err = model.predict_indices(u_lookup[test.users], i_lookup[test.items]) - test.values
        for s in rating:
            out[s.name] = err**2 if s.base == "rmse" else np.abs(err)
    if ranking:
        users = np.unique(test.users)
        k_max = max(s.k or 0 for s in ranking)
        recs, _ = model.recommend_indices(u_lookup[users], k_max, exclude_seen=exclude_seen)
        to_data = test.item_map.index_of(model.item_map_.ids)
        recs = np.where(recs >= 0, to_data[np.maximum(recs, 0)], -1)
        rel = sp.csr_matrix(
            (np.ones(len(test)), (np.searchsorted(users, test.users), test.items)),
            shape=(len(users), test.n_items),
        )
        rel.data[:] = 1.0
        out.update(ranking_metrics(recs, rel, ranking))
    return out


def _root_mean(v: np.ndarray) -> float:
    return float(np.sqrt(v.mean()))


def _mean(v: np.ndarray) -> float:
    return float(v.mean())


def _model(spec: Recommender | str | os.PathLike[str]) -> tuple[Recommender, dict[str, Any]]:
    if isinstance(spec, Recommender):
        spec._check_fitted()
        art = getattr(spec, "artifact_", None) or {}
        return spec, {"path": art.get("path"), "id": art.get("id"), "model": spec.name}
    model = Recommender.load(os.fspath(spec))
    art = getattr(model, "artifact_", None) or {}
    return model, {"path": os.fspath(spec), "id": art.get("id"), "model": model.name}


def _data(data: Interactions | str | os.PathLike[str]) -> tuple[Interactions, str | None]:
    if isinstance(data, Interactions):
        return data, data.source
    return load(os.fspath(data)), os.fspath(data)


def _split_mapping(split: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    given = dict(split)
    if "method" not in given:
        raise ConfigError(f"split mapping needs a 'method' key, got {sorted(given)}")
    return str(given.pop("method")), given


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


__all__ = ["ComparisonResult", "compare", "paired_bootstrap", "unit_deltas"]

"""Metric names: parsing ``ndcg@10`` into a `MetricSpec`, and checks that a metric applies.

A cut-off must be a positive integer. A cut-off larger than the catalogue is refused, not
clipped: ``precision@k`` divides by ``k`` and a result keyed ``ndcg@1000`` must mean a top-1000,
so quietly scoring a shorter list under that name would report a number that is not what it
says (and a top-10^12 would try to allocate the list). Rating metrics (``rmse``, ``mae``) are
refused for models that only rank (``predicts_ratings`` False): their scores are not ratings, so
an "rmse" of their scores against ratings measures nothing.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rectune.errors import ConfigError

if TYPE_CHECKING:
    from rectune.models.base import Recommender

MetricKind = Literal["rating", "ranking", "catalogue"]

#: Metrics on rating estimates (no cut-off).
RATING_METRICS: tuple[str, ...] = ("rmse", "mae")
#: Per-user ranking metrics at a cut-off K.
RANKING_METRICS: tuple[str, ...] = ("precision", "recall", "f1", "ndcg", "map", "mrr", "hr")
#: Catalogue-level metrics at a cut-off K (one number per evaluation, not per user).
CATALOGUE_METRICS: tuple[str, ...] = ("coverage",)
#: Accepted alternative spellings.
METRIC_ALIASES: dict[str, str] = {"hit": "hr", "hitrate": "hr", "hit_rate": "hr"}

_NAME = re.compile(r"^\s*([a-z0-9_]+)\s*(?:@\s*(\S*))?\s*$")


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name such as ``ndcg@10``: base metric and cut-off."""

    base: str
    """Canonical base name (``rmse``, ``ndcg``, ``hr``, ...)."""
    k: int | None = None
    """Cut-off for ranking and catalogue metrics, None for rating metrics."""

    @property
    def name(self) -> str:
        """Canonical spelling, used as the key in results (``hit@10`` becomes ``hr@10``)."""
        return self.base if self.k is None else f"{self.base}@{self.k}"

    @property
    def kind(self) -> MetricKind:
        if self.base in RATING_METRICS:
            return "rating"
        return "catalogue" if self.base in CATALOGUE_METRICS else "ranking"


def valid_metric_names() -> list[str]:
    """Human-readable list of accepted metric names (for error messages and the CLI)."""
    return [*RATING_METRICS, *(f"{m}@K" for m in (*RANKING_METRICS, *CATALOGUE_METRICS))]


def parse_metric(name: str) -> MetricSpec:
    """Parse ``rmse``, ``ndcg@10``, ``hit@5`` ... into a `MetricSpec`.

    Examples
    --------
    >>> parse_metric("NDCG@10").name, parse_metric("hit@5").name, parse_metric("rmse").kind
    ('ndcg@10', 'hr@5', 'rating')
    """
    valid = ", ".join(valid_metric_names())
    match = _NAME.match(str(name).lower())
    if match is None:
        raise ConfigError(f"unknown metric {name!r}; valid metrics: {valid}")
    base, k_text = match.group(1), match.group(2)
    base = METRIC_ALIASES.get(base, base)
    if base in RATING_METRICS:
        if k_text is not None:
            raise ConfigError(f"metric {base!r} takes no cut-off (got {name!r}); valid: {valid}")
        return MetricSpec(base)
    if base in RANKING_METRICS or base in CATALOGUE_METRICS:
        if k_text is None:
            raise ConfigError(f"metric {base!r} needs a cut-off such as {base}@10; valid: {valid}")
        if not k_text.isdecimal() or int(k_text) < 1:
            raise ConfigError(f"cut-off of metric {name!r} must be a whole number of at least 1")
        return MetricSpec(base, int(k_text))
    raise ConfigError(f"unknown metric {name!r}; valid metrics: {valid}")


def parse_metrics(names: str | Iterable[str]) -> list[MetricSpec]:
    """Parse several names (a list or a comma-separated string), dropping duplicates."""
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    out: dict[str, MetricSpec] = {}
    for n in names:
        spec = parse_metric(n)
        out.setdefault(spec.name, spec)
    if not out:
        raise ConfigError(f"no metrics given; valid metrics: {', '.join(valid_metric_names())}")
    return list(out.values())


def check_cutoffs(specs: Sequence[MetricSpec], n_items: int) -> None:
    """Refuse a cut-off larger than the ``n_items`` of the catalogue (see the module docs).

    Examples
    --------
    >>> check_cutoffs(parse_metrics("ndcg@10"), 5)
    Traceback (most recent call last):
    ...
    rectune.errors.ConfigError: metric ndcg@10: cut-off 10 exceeds the 5 items of the data; use a cut-off of at most 5
    """  # noqa: E501
    for s in specs:
        if s.k is not None and s.k > n_items:
            raise ConfigError(
                f"metric {s.name}: cut-off {s.k} exceeds the {n_items} items of the data; "
                f"use a cut-off of at most {n_items}"
            )


def predicts_ratings(model: Recommender) -> bool | None:
    """Whether ``model`` estimates ratings; None while that depends on data it has not seen.

    A model may declare ``predicts_ratings`` as a property of its fitted state (NCF: the
    objective follows the data kind); such a model is known only once fitted.
    """
    static = inspect.getattr_static(type(model), "predicts_ratings", True)
    if isinstance(static, bool):
        return static
    if not model.is_fitted:
        return None
    return bool(model.predicts_ratings)


def check_rating_metrics(model: Recommender, specs: Sequence[MetricSpec]) -> None:
    """Refuse rating metrics for a model that only ranks (unknown before its fit: allowed)."""
    rating = [s.name for s in specs if s.kind == "rating"]
    if rating and predicts_ratings(model) is False:
        name = model.name or type(model).__name__
        raise ConfigError(
            f"model {name} ranks items and does not predict ratings, so {', '.join(rating)} "
            "would compare its scores with ratings; use ranking metrics such as ndcg@10"
        )


__all__ = [
    "CATALOGUE_METRICS",
    "METRIC_ALIASES",
    "RANKING_METRICS",
    "RATING_METRICS",
    "MetricKind",
    "MetricSpec",
    "check_cutoffs",
    "check_rating_metrics",
    "parse_metric",
    "parse_metrics",
    "predicts_ratings",
    "valid_metric_names",
]

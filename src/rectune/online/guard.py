"""Promotion guards: ``rmse<=+0.005`` or ``ndcg@10>=-0.01``, parsed and checked.

A guard compares a candidate with the alias's current target on the same held-out events
(``delta = candidate - current``): ``rmse<=+0.005`` lets the RMSE rise by at most 0.005,
``ndcg@10>=-0.01`` lets NDCG@10 fall by at most 0.01. Several rules are comma-separated and
all must hold. A rule's direction must suit its metric (errors ``<=``, ranking metrics ``>=``),
so a typo cannot turn a guard into one that admits only worse models. A value that cannot be
computed (NaN: no rankable user, no rating) fails its rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, RectuneError
from rectune.evaluation.metric_names import (
    MetricSpec,
    check_rating_metrics,
    parse_metric,
    predicts_ratings,
)
from rectune.models.base import Recommender
from rectune.online.stream import score_chunk

_RULE = re.compile(r"^\s*([^<>=\s]+)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class GuardRule:
    """One rule: ``metric op delta`` on ``candidate - current``."""

    metric: MetricSpec
    op: str
    """``<=`` (error metrics) or ``>=`` (ranking metrics)."""
    allowed: float
    """The largest rise (``<=``) or, negative, the largest fall (``>=``) allowed."""

    @property
    def text(self) -> str:
        return f"{self.metric.name}{self.op}{self.allowed:+g}"

    def holds(self, delta: float) -> bool:
        if math.isnan(delta):
            return False
        return delta <= self.allowed if self.op == "<=" else delta >= self.allowed


def parse_guard(expr: str) -> list[GuardRule]:
    """Parse ``"rmse<=+0.005, ndcg@10>=-0.01"``; a bad rule is a one-line `ConfigError`.

    Examples
    --------
    >>> [r.text for r in parse_guard("rmse<=+0.005, NDCG@10 >= -0.01")]
    ['rmse<=+0.005', 'ndcg@10>=-0.01']
    """
    rules = []
    for part in [p for p in str(expr).split(",") if p.strip()]:
        m = _RULE.match(part)
        if m is None:
            raise ConfigError(
                f"guard {part.strip()!r}: expected METRIC<=DELTA or METRIC>=DELTA, "
                "e.g. rmse<=+0.005 or ndcg@10>=-0.01"
            )
        name, op, value = m.groups()
        try:
            spec = parse_metric(name)
        except ConfigError as exc:
            raise ConfigError(f"guard {part.strip()!r}: {exc}") from None
        try:
            allowed = float(value)
        except ValueError:
            allowed = math.nan
        if not math.isfinite(allowed):
            raise ConfigError(f"guard {part.strip()!r}: {value!r} is not a finite number")
        if spec.kind == "catalogue":
            raise ConfigError(f"guard {part.strip()!r}: {spec.name} compares no predictions")
        want = "<=" if spec.kind == "rating" else ">="
        if op != want:
            better = "lower" if want == "<=" else "higher"
            raise ConfigError(
                f"guard {part.strip()!r}: {better} {spec.name} is better, so the rule is "
                f"{spec.name}{want}DELTA"
            )
        rules.append(GuardRule(spec, op, allowed))
    if not rules:
        raise ConfigError("guard is empty; e.g. rmse<=+0.005 or ndcg@10>=-0.01")
    return rules


def default_guard(model: Recommender, data: Interactions) -> list[GuardRule]:
    """Not worse at all: RMSE for rating models on explicit data, else NDCG@10."""
    if predicts_ratings(model) is not False and not data.is_implicit:
        return parse_guard("rmse<=+0")
    return parse_guard("ndcg@10>=-0")


@dataclass(frozen=True)
class GuardCheck:
    """The outcome of one rule: both metric values and whether the rule held."""

    metric: str
    candidate: float | None
    current: float | None
    delta: float | None
    op: str
    allowed: float
    passed: bool

    def describe(self) -> str:
        cand = "n/a" if self.candidate is None else f"{self.candidate:.6g}"
        cur = "n/a" if self.current is None else f"{self.current:.6g}"
        delta = "n/a" if self.delta is None else f"{self.delta:+.6g}"
        verdict = "within" if self.passed else "beyond"
        return (
            f"{self.metric} {cand} (candidate) vs {cur} (current), delta {delta} {verdict} "
            f"allowed {self.op}{self.allowed:+g}"
        )


@dataclass
class Promotion:
    """What a promotion or rollback did: moved or refused, why, and the guard's checks."""

    action: str
    """``promote``, ``refuse``, ``rollback`` or ``rollback-refused``."""
    alias: str
    from_version: int | None
    to_version: int
    guard: str | None = None
    forced: bool = False
    checks: list[GuardCheck] = field(default_factory=list)
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.action in ("promote", "rollback")

    def record(self) -> dict[str, Any]:
        """The audit-log record (without its sequence number and time)."""
        return {
            "action": self.action,
            "alias": self.alias,
            "from": self.from_version,
            "to": self.to_version,
            "guard": self.guard,
            "forced": self.forced,
            "checks": [asdict(c) for c in self.checks],
            "reason": self.reason,
        }


def _value(model: Recommender, data: Interactions, spec: MetricSpec) -> float | None:
    try:
        check_rating_metrics(model, [spec])  # an "rmse" of a ranking model's scores means nothing
        v = score_chunk(model, data, [spec]).metrics[spec.name]
    except RectuneError:
        return None
    return None if v is None or not math.isfinite(v) else float(v)


def check_guard(
    rules: Sequence[GuardRule],
    candidate: Recommender,
    current: Recommender | None,
    data: Interactions,
) -> list[GuardCheck]:
    """Every rule on ``data`` for the candidate and the current target (None: passes)."""
    checks = []
    for rule in rules:
        cand = _value(candidate, data, rule.metric)
        cur = None if current is None else _value(current, data, rule.metric)
        if current is None:
            delta, passed = None, cand is not None
        elif cand is None or cur is None:
            delta, passed = None, False
        else:
            delta = cand - cur
            passed = rule.holds(delta)
        checks.append(GuardCheck(rule.metric.name, cand, cur, delta, rule.op, rule.allowed, passed))
    return checks


def guard_text(rules: Sequence[GuardRule]) -> str:
    """The canonical spelling of a guard, as recorded in the audit log."""
    return ",".join(r.text for r in rules)


def unseen_events(
    store: Any, registry: Any, version: int, alias: str, *, newest: int | None = None
) -> Interactions:
    """Held-out events for promoting ``version`` over ``alias``'s target, from the store.

    They are the stored events after the last sequence either version consumed (events a
    version learned from would be ranked out of its lists, so they cannot judge it), the
    ``newest`` of them if given, as interactions of the candidate's data kind. Raises
    `ConfigError` when there are none.
    """
    if newest is not None and newest < 1:
        raise ConfigError(f"--newest must be at least 1, got {newest}")
    infos = [registry.resolve(version)]
    current = registry.aliases.get(alias)
    if current is not None:
        infos.append(registry.resolve(current))
    after = max(((i.events or {}).get("last_seq") or 0) for i in infos)
    batch = store.read(after)
    if not len(batch):
        raise ConfigError(
            f"no events in {store.url} after seq {after} (what the versions consumed): "
            "ingest newer events or pass --data"
        )
    frame = batch.to_frame()
    if newest is not None:
        frame = frame.iloc[-newest:]
    kind = registry.load(version).data_kind_
    return Interactions.from_raw(
        frame.user_id.to_numpy(),
        frame.item_id.to_numpy(),
        frame.value.to_numpy(),
        frame.timestamp.to_numpy(),
        kind=kind,
    )

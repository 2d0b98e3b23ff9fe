"""Replay a time-ordered dataset as a stream: chunked test-then-update, or per event.

`replay` sorts the interactions by timestamp (stably), fits a model on the first
``initial_fraction`` of them, and then walks the rest in ``chunks`` equal slices. Each slice is
first *scored* with the current model and only then used to *update* it, so every score is an
honest forecast (prequential, or "test-then-train", evaluation: Dawid 1984, "Present position
and potential developments: some personal views. Statistical theory. The prequential approach";
Gama, Sebastiao & Rodrigues 2013, "On evaluating stream learning algorithms"). The update is
one of

``none``
    keep the initial model (the floor every update must beat);
``retrain``
    fit a fresh model from scratch on everything seen so far (the accuracy reference);
``finetune``
    `Recommender.finetune` on the slice with a `FinetuneStrategy` (L2-SP, replay, ...);
``partial``
    `Recommender.partial_fit` on the slice (fold-in, no epochs).

Rating metrics compare estimates with the slice's values pair by pair; ranking metrics rank the
full catalogue for each user of the slice, excluding items the model has seen for that user, and
count the user's items in the slice as relevant. ``per_event=True`` instead predicts, then
learns, one event at a time inside a compiled loop (a model's ``prequential`` method); with
``initial_fraction=0`` the model starts empty and every event of the stream is predicted from
what came before it, then learned (River's progressive validation): the first events get the
model's default for unknown ids (for SVD the running mean of the values seen so far). An empty
model has no training range to clip its estimates to, so for ratings they are clipped to the
rating scale, taken as the data's lowest and highest value (River's tutorial clips to [1, 5]).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, DataError
from rectune.evaluation.metric_names import check_cutoffs, check_rating_metrics
from rectune.evaluation.metrics import (
    MetricSpec,
    coverage_at_k,
    parse_metrics,
    ranking_metrics,
    rating_metric,
)
from rectune.models import MODELS, create_model, model_class
from rectune.models.base import Recommender
from rectune.training.config import TrainConfig
from rectune.training.strategy import FinetuneStrategy

logger = logging.getLogger(__name__)

Update = Literal["none", "retrain", "finetune", "partial"]
UPDATES: tuple[str, ...] = ("none", "retrain", "finetune", "partial")


@dataclass
class ChunkResult:
    """Scores of one slice of the stream, made before the model learned from it."""

    index: int
    n: int
    metrics: dict[str, float]
    update_seconds: float
    errors: np.ndarray | None = field(default=None, repr=False)
    """Estimate minus truth per event (rating metrics), for pooling and paired tests."""
    per_user: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Ranking metric -> one value per ranked user of the slice."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "n": self.n,
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "update_seconds": self.update_seconds,
        }


@dataclass
class ReplayResult:
    """Outcome of `replay`: per-chunk scores, pooled scores and timings.

    ``to_dict()`` is a contract that scripts drive (keys may be added, never renamed)::

        {"chunks": [{"index", "n", "metrics": {...}, "update_seconds"}], "pooled": {...},
         "initial_fit_seconds", "total_update_seconds", ...}
    """

    model_name: str
    update: str
    chunks: list[ChunkResult]
    initial_fit_seconds: float
    n_initial: int
    metric_names: list[str]
    per_event: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    strategy: dict[str, Any] | None = None
    model: Recommender | None = field(default=None, repr=False)
    """The model after the last update."""

    @property
    def total_update_seconds(self) -> float:
        return float(sum(c.update_seconds for c in self.chunks))

    @property
    def pooled(self) -> dict[str, float]:
        """Every metric over all scored events (rating) or users (ranking) pooled."""
        out: dict[str, float] = {}
        for name in self.metric_names:
            spec = parse_metrics([name])[0]
            if spec.kind == "rating":
                errs = [c.errors for c in self.chunks if c.errors is not None]
                out[name] = rating_metric(spec.base, np.concatenate(errs)) if errs else math.nan
            elif spec.kind == "ranking":
                vals = [c.per_user[name] for c in self.chunks if name in c.per_user]
                both = np.concatenate(vals) if vals else np.zeros(0)
                out[name] = float(both.mean()) if both.size else math.nan
            else:
                out[name] = float(np.nanmean([c.metrics[name] for c in self.chunks]))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "config": self.config,
            "update": self.update,
            "strategy": self.strategy,
            "per_event": self.per_event,
            "n_initial": self.n_initial,
            "n_scored": int(sum(c.n for c in self.chunks)),
            "chunks": [c.to_dict() for c in self.chunks],
            "pooled": {k: _json_float(v) for k, v in self.pooled.items()},
            "initial_fit_seconds": self.initial_fit_seconds,
            "total_update_seconds": self.total_update_seconds,
        }


def replay(
    data: Interactions,
    model_name: str,
    params: Mapping[str, Any] | None = None,
    *,
    initial_fraction: float = 0.8,
    chunks: int = 10,
    update: Update = "none",
    strategy: FinetuneStrategy | Mapping[str, Any] | str | None = None,
    train: TrainConfig | None = None,
    metrics: str | Sequence[str] = ("rmse",),
    per_event: bool = False,
    update_train: TrainConfig | None = None,
    seed: int = 0,
    relevance_threshold: float | None = None,
) -> ReplayResult:
    """Replay ``data`` in time order: fit on a prefix, then score and update chunk by chunk.

    Parameters
    ----------
    data
        Interactions; sorted by timestamp (stable; row order when there are none).
    model_name, params
        A registered model name and its hyperparameters.
    initial_fraction
        Share of the (time-ordered) rows the first model is fitted on, in [0, 1); 0 (per-event
        replay only) starts from an empty model and scores every event.
    chunks
        Number of equal slices the remaining rows are cut into.
    update
        ``none``, ``retrain``, ``finetune`` or ``partial`` (see the module docstring).
    strategy
        Fine-tuning strategy for ``update="finetune"`` (instance, mapping, preset or text).
    train
        Training options of the initial fit, retrains and updates (seed defaults to ``seed``).
    update_train
        Training options of the ``finetune`` / ``partial`` updates only (default ``train``):
        an update's epochs or step size, which a fit may not honour.
    metrics
        Metric names: rating metrics (``rmse``, ``mae``; not for models that only rank) and
        ranking metrics (``ndcg@10``...; the cut-off at most the number of items).
    per_event
        Predict, then learn, one event at a time in compiled code (``update="partial"`` only,
        models with a ``prequential`` method; rating metrics only).
    relevance_threshold
        Ranking metrics: only rows with a value >= this are relevant (default: every row).

    Examples
    --------
    >>> from rectune.testing import low_rank
    >>> res = replay(low_rank(), "baseline", initial_fraction=0.5, chunks=2, update="partial")
    >>> out = res.to_dict()
    >>> len(out["chunks"]), sorted(out["pooled"])
    (2, ['rmse'])
    """
    if update not in UPDATES:
        raise ConfigError(f"update must be one of {', '.join(UPDATES)}, not {update!r}")
    if not 0 <= initial_fraction < 1:
        raise ConfigError(f"initial_fraction must be in [0, 1), got {initial_fraction!r}")
    if initial_fraction == 0 and not per_event:
        raise ConfigError(
            "initial_fraction=0 starts from an empty model, which only per-event replay scores "
            "(per_event=True, update='partial'); use an initial_fraction in (0, 1)"
        )
    if chunks < 1:
        raise ConfigError(f"chunks must be at least 1, got {chunks!r}")
    specs = parse_metrics(metrics)
    check_cutoffs(specs, data.n_items)
    params = dict(params or {})
    # Validate name and parameters before any work; kinds that follow the data: after the fit.
    check_rating_metrics(create_model(model_name, **params), specs)
    train = train or TrainConfig(seed=seed)
    utrain = update_train or train
    fstrategy = FinetuneStrategy.parse(strategy) if update == "finetune" else None
    if strategy is not None and update != "finetune":
        raise ConfigError(f"a strategy applies to update='finetune' only, not {update!r}")
    if per_event:
        _check_per_event(model_name, update, specs)

    ordered = _time_order(data)
    n = len(ordered)
    n_init = round(initial_fraction * n)
    if (initial_fraction > 0 and n_init < 1) or n - n_init < chunks:
        raise DataError(
            f"{n} rows cannot make an initial fit of {initial_fraction:.0%} and {chunks} chunks"
        )
    pieces = np.array_split(np.arange(n_init, n), chunks)
    starts, bounds = [int(p[0]) for p in pieces], [int(p[-1]) + 1 for p in pieces]

    model = create_model(model_name, **params)
    initial_fit = 0.0
    if n_init:
        t0 = time.perf_counter()
        model.fit(ordered.subset(np.arange(n_init)), train=train)
        initial_fit = time.perf_counter() - t0
        check_rating_metrics(model, specs)
        logger.info("replay %s: initial fit on %d rows in %.3fs", model_name, n_init, initial_fit)

    # An empty start has no training range: clip to the rating scale (see the module docs).
    scale: dict[str, Any] = {}
    if per_event and n_init == 0 and ordered.kind == "rating":
        scale = {"clip": (float(ordered.values.min()), float(ordered.values.max()))}
    results: list[ChunkResult] = []
    for k, (lo, hi) in enumerate(zip(starts, bounds, strict=True)):
        chunk = ordered.subset(np.arange(lo, hi))
        if per_event:
            # An empty start draws its first rows from ``seed``; later calls continue the stream.
            start = {"seed": seed, **scale} if k == 0 and n_init == 0 else scale
            t0 = time.perf_counter()
            preds = np.asarray(model.prequential(chunk, **start), dtype=np.float64)  # type: ignore[attr-defined]
            seconds = time.perf_counter() - t0
            res = _score_estimates(k, chunk, preds, specs)
            res.update_seconds = seconds
        else:
            res = score_chunk(model, chunk, specs, k, relevance_threshold=relevance_threshold)
            t0 = time.perf_counter()
            if update == "retrain":
                model = create_model(model_name, **params)
                model.fit(ordered.subset(np.arange(hi)), train=train)
            elif update == "finetune":
                model.finetune(chunk, train=utrain, strategy=fstrategy)
            elif update == "partial":
                model.partial_fit(chunk, train=utrain)
            res.update_seconds = time.perf_counter() - t0 if update != "none" else 0.0
        logger.info(
            "replay %s chunk %d/%d (%d rows): %s, update %.3fs",
            model_name,
            k + 1,
            chunks,
            res.n,
            ", ".join(f"{m}={v:.4f}" for m, v in res.metrics.items()),
            res.update_seconds,
        )
        results.append(res)
    return ReplayResult(
        model_name=model_name,
        update=update,
        chunks=results,
        initial_fit_seconds=initial_fit,
        n_initial=n_init,
        metric_names=[s.name for s in specs],
        per_event=per_event,
        config=model.config.to_dict(),
        strategy=None if fstrategy is None else fstrategy.to_dict(),
        model=model,
    )


def score_chunk(
    model: Recommender,
    chunk: Interactions,
    specs: Sequence[MetricSpec],
    index: int = 0,
    *,
    relevance_threshold: float | None = None,
) -> ChunkResult:
    """Score ``chunk`` with ``model`` as it stands (no learning); see the module docstring."""
    rating = [s for s in specs if s.kind == "rating"]
    ranking = [s for s in specs if s.kind != "rating"]
    u = model.user_map_.index_of(chunk.user_ids)
    res = ChunkResult(index, len(chunk), {}, 0.0)
    if rating:
        i = model.item_map_.index_of(chunk.item_ids)
        res = _score_estimates(index, chunk, model.predict_indices(u, i), rating)
    if ranking:
        keep = (
            np.ones(len(chunk), bool)
            if relevance_threshold is None
            else chunk.values >= relevance_threshold
        )
        # Rank each user of the chunk once; relevance lives in the chunk's item index space.
        users, inverse = np.unique(chunk.users[keep], return_inverse=True)
        model_users = model.user_map_.index_of(chunk.user_map.ids[users])
        k_max = max(s.k or 0 for s in ranking)
        recs, _ = model.recommend_indices(model_users, k_max, exclude_seen=True)
        to_chunk = chunk.item_map.index_of(model.item_map_.ids)
        recs_c = np.where(recs >= 0, to_chunk[np.maximum(recs, 0)], -1)
        relevant = sp.csr_matrix(
            (np.ones(int(keep.sum())), (inverse, chunk.items[keep])),
            shape=(len(users), chunk.n_items),
        )
        relevant.data[:] = 1.0
        per_user_specs = [s for s in ranking if s.kind == "ranking"]
        res.per_user = ranking_metrics(recs_c, relevant, per_user_specs) if per_user_specs else {}
        for s in ranking:
            if s.kind == "catalogue":
                res.metrics[s.name] = coverage_at_k(recs, s.k or 0, len(model.item_map_))
            else:
                v = res.per_user[s.name]
                res.metrics[s.name] = float(v.mean()) if v.size else math.nan
    res.metrics = {s.name: res.metrics[s.name] for s in specs}
    return res


def _score_estimates(
    index: int, chunk: Interactions, estimates: np.ndarray, specs: Sequence[MetricSpec]
) -> ChunkResult:
    errors = estimates - chunk.values
    metrics = {s.name: rating_metric(s.base, errors) for s in specs if s.kind == "rating"}
    return ChunkResult(index, len(chunk), metrics, 0.0, errors=errors)


def _time_order(data: Interactions) -> Interactions:
    if len(data) == 0:
        raise DataError("cannot replay an empty dataset")
    if data.timestamps is None:
        logger.warning("no timestamps: replaying the rows in their stored order")
        return data
    return data.subset(np.argsort(data.timestamps, kind="stable"))


def prequential_models() -> list[str]:
    """Registered models with a compiled per-event ``prequential`` path."""
    out = []
    for name in MODELS:
        try:
            cls = model_class(name)
        except (ImportError, AttributeError):
            continue
        if callable(getattr(cls, "prequential", None)):
            out.append(name)
    return out


def _check_per_event(model_name: str, update: str, specs: Sequence[MetricSpec]) -> None:
    if update == "none":
        # Nothing learned between events: per-event scores would equal the chunked ones.
        raise ConfigError(
            "per-event replay predicts then learns each event: it needs update='partial'; "
            "with update='none' nothing is learned, so drop per_event (chunked scoring is the same)"
        )
    if update != "partial":
        raise ConfigError(
            f"per-event replay learns with partial_fit: use update='partial', not {update!r}"
        )
    bad = [s.name for s in specs if s.kind != "rating"]
    if bad:
        raise ConfigError(f"per-event replay scores rating metrics only (rmse, mae), not {bad}")
    if not callable(getattr(model_class(model_name), "prequential", None)):
        have = prequential_models()
        raise ConfigError(
            f"{model_name} has no compiled per-event (prequential) path; models that do: "
            f"{', '.join(have) or 'none yet'}; use chunked replay (per_event=False) instead"
        )


def _json_float(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


__all__ = ["UPDATES", "ChunkResult", "ReplayResult", "prequential_models", "replay", "score_chunk"]

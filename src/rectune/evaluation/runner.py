"""`evaluate`: fit a model on each split of a dataset and score it, fold by fold.

Rating metrics compare ``model.predict_indices`` with the test values, pair by pair. Ranking
metrics rank the model's whole training catalogue for every test user, excluding the items the
user had in training, and count as relevant the user's test items; for explicit ratings that is
every test item unless ``relevance_threshold`` keeps only ratings >= the threshold. Relevant test
items the model never saw in training still count (in recall's and NDCG's denominators), so a
model is not rewarded for a catalogue that misses them. Users with no relevant test item are not
ranked.

The prediction path is vectorised end to end: id mapping through lookup arrays, one
``predict_indices`` call per fold and one batched ``recommend_indices`` call, so the evaluation
overhead stays small next to fitting. Per-pair errors and per-user ranking values are kept on
the result (not in its JSON) for paired significance tests between models run on the same split.

Cold items (``split="cold-items"``): a share of the items is held out with all their rows. The
model is fitted on the rest, with the full ``item_text`` (so content models can score the cold
items), except that the cold items' text loses its user tags (`rectune.text.item_text.strip_tags`:
tags are written after the interactions the split hides, so they would leak them). Ranking metrics
are computed twice: under their own name over the cold items only (the candidates are the held-out
items the model knows; a model that cannot score unseen items has none of them in its catalogue,
so its lists are empty and score 0), and with a ``_full`` suffix (e.g. ``ndcg@10_full``) over the
model's whole catalogue, where the cold items compete with the warm ones (again absent, i.e.
ranked below everything, for models that do not know them). Rating metrics on cold items use the
model's fallback for unknown items (for most models the global mean plus the user bias).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.evaluation.metric_names import check_cutoffs, check_rating_metrics
from rectune.evaluation.metrics import (
    MetricSpec,
    coverage_at_k,
    parse_metrics,
    ranking_metrics,
    rating_metric,
)
from rectune.evaluation.results import EvaluationResult, FoldResult
from rectune.evaluation.splits import split_options, split_rows
from rectune.models import create_model
from rectune.models.base import Recommender
from rectune.text.item_text import cold_item_text
from rectune.training.config import TrainConfig

logger = logging.getLogger(__name__)

ModelSpec = str | Recommender | type[Recommender] | Callable[..., Recommender]
Progress = Callable[[int, int], None]


def evaluate(
    model: ModelSpec,
    data: Interactions | str | os.PathLike[str],
    *,
    params: Mapping[str, Any] | None = None,
    split: str | Mapping[str, Any] = "kfold",
    folds: int | None = None,
    test_size: float | None = None,
    metrics: str | Sequence[str] = ("rmse", "mae"),
    seed: int = 0,
    n_support: int | None = None,
    relevance_threshold: float | None = None,
    progress: Progress | None = None,
    train: TrainConfig | None = None,
) -> EvaluationResult:
    """Fit a fresh model on each training split of ``data`` and score it on the test split.

    Parameters
    ----------
    model
        A registered model name (see `rectune.models.MODELS`), a model class or factory
        returning a fresh `Recommender`, or a model instance (cloned from its config per fold).
    data
        The interactions, or a dataset path read with `rectune.data.loaders.load`.
    params
        Hyperparameters passed to the model name, class or factory.
    split
        Method name (``kfold``, ``random``, ``temporal``, ``user-temporal``, ``leave-last``,
        ``cold-users``, ``cold-items``) or a mapping ``{"method": ..., option: value}``; options
        not in the mapping come from ``folds``, ``test_size``, ``seed`` and ``n_support``.
    folds, test_size, n_support
        Options of the split methods that take them (``folds``: kfold, default 5;
        ``test_size``: default 0.2; ``n_support``: cold-users, default 0). Giving one that the
        split does not take is an error rather than silently ignored.
    metrics
        Metric names such as ``rmse``, ``ndcg@10``, ``hr@10``, ``coverage@10``. A cut-off above
        the number of items in ``data`` is an error, and so are rating metrics (``rmse``,
        ``mae``) for a model that only ranks (``predicts_ratings`` False).
    seed
        Seed of the split and of every fit (``TrainConfig(seed=seed)``).
    relevance_threshold
        For ranking metrics, only test rows with a value >= this count as relevant.
    progress
        Called as ``progress(done, total)`` after each fold (and once with 0 at the start).
    train
        Run options of every fit (``progress`` bars, ``warn_seconds``); its seed is ``seed``.

    Examples
    --------
    >>> data = Interactions.from_raw([1, 1, 2, 2, 3, 3], list("ababab"), [5, 3, 4, 2, 5, 1])
    >>> res = evaluate("baseline", data, folds=2, metrics=["rmse", "hr@1"])
    >>> sorted(res.mean)
    ['fit_seconds', 'hr@1', 'predict_seconds', 'rmse']
    """
    specs = parse_metrics(metrics)
    data_path: str | None
    if isinstance(data, str | os.PathLike):
        data_path = os.fspath(data)
        data = _load(data_path)
    else:
        data_path = data.source
    method, options = _split_config(
        split, folds=folds, test_size=test_size, seed=seed, n_support=n_support
    )
    check_cutoffs(specs, data.n_items)
    make = _factory(model, params)
    check_rating_metrics(make(), specs)  # models whose kind follows the data: after the fit
    rows = list(split_rows(data, method, **options))
    total = len(rows)
    train_cfg = (train or TrainConfig()).with_overrides(seed=seed)
    results: list[FoldResult] = []
    name, config = "", {}
    if progress is not None:
        progress(0, total)
    for f, (train_rows, test_rows) in enumerate(rows):
        fitted = make()
        name = fitted.name or type(fitted).__name__
        fold = _run_fold(
            fitted,
            data,
            train_rows,
            test_rows,
            specs,
            train_cfg,
            relevance_threshold,
            cold_items=method == "cold-items",
        )
        config = fitted.config.to_dict()
        results.append(fold)
        logger.info(
            "%s fold %d/%d: %s (fit %.3fs, predict %.3fs)",
            name,
            f + 1,
            total,
            ", ".join(f"{k}={v:.4f}" for k, v in fold.metrics.items()),
            fold.fit_seconds,
            fold.predict_seconds,
        )
        if progress is not None:
            progress(f + 1, total)
    return EvaluationResult(
        model=name,
        config=config,
        data_path=data_path,
        data_fingerprint=data.fingerprint(),
        split={"method": method, **options},
        folds=results,
        metric_names=list(results[0].metrics) if results else [s.name for s in specs],
    )


def _run_fold(
    model: Recommender,
    data: Interactions,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    specs: list[MetricSpec],
    train_cfg: TrainConfig,
    threshold: float | None,
    *,
    cold_items: bool = False,
) -> FoldResult:
    train, test = data.subset(train_rows), data.subset(test_rows)
    cold = None
    if cold_items:
        cold = np.unique(test.items)
        train = replace(train, item_text=cold_item_text(data.item_text, data.item_map.ids[cold]))
    rating_specs = [s for s in specs if s.kind == "rating"]
    rank_specs = [s for s in specs if s.kind != "rating"]

    t0 = time.perf_counter()
    model.fit(train, train=train_cfg)
    fit_seconds = time.perf_counter() - t0
    check_rating_metrics(model, rating_specs)

    t0 = time.perf_counter()
    # Dataset index -> model index (-1 if the model never saw the id), one lookup per map.
    u_lookup = model.user_map_.index_of(data.user_map.ids)
    estimates = None
    if rating_specs:
        i_lookup = model.item_map_.index_of(data.item_map.ids)
        estimates = model.predict_indices(u_lookup[test.users], i_lookup[test.items])
    recs = ranked = rel_rows = None
    if rank_specs:
        rel_rows = np.ones(len(test), bool) if threshold is None else test.values >= threshold
        ranked = np.unique(test.users[rel_rows])
        k_max = max(s.k or 0 for s in rank_specs)
        recs, _ = model.recommend_indices(u_lookup[ranked], k_max, exclude_seen=True)
        if cold is not None:
            # Cold-candidate lists under the metric names; full-catalogue lists as `_full`.
            cand = model.item_map_.index_of(data.item_map.ids[cold])
            cand = np.unique(cand[cand >= 0])
            recs_full = recs
            recs, _ = model.recommend_indices(
                u_lookup[ranked], k_max, exclude_seen=True, candidates=cand
            )
    predict_seconds = time.perf_counter() - t0

    values: dict[str, float] = {}
    errors = None
    if estimates is not None:
        errors = estimates - test.values
        for s in rating_specs:
            values[s.name] = rating_metric(s.base, errors)
    per_user: dict[str, np.ndarray] = {}
    ranked_ids = None
    if recs is not None and ranked is not None and rel_rows is not None:
        ranked_ids = data.user_map.ids[ranked]
        # Model item index -> dataset item index, so relevance lives in the dataset's space.
        to_data = data.item_map.index_of(model.item_map_.ids)
        recs_data = np.where(recs >= 0, to_data[np.maximum(recs, 0)], -1)
        relevant = sp.csr_matrix(
            (
                np.ones(int(rel_rows.sum())),
                (np.searchsorted(ranked, test.users[rel_rows]), test.items[rel_rows]),
            ),
            shape=(len(ranked), data.n_items),
        )
        per_user_specs = [s for s in rank_specs if s.kind == "ranking"]
        per_user = ranking_metrics(recs_data, relevant, per_user_specs) if per_user_specs else {}
        if cold is None:
            _rank_values(values, per_user, rank_specs, recs, len(model.item_map_), "")
        else:  # coverage of the cold catalogue: positions among the candidates
            pos = np.where(recs >= 0, np.searchsorted(cand, np.maximum(recs, 0)), -1)
            _rank_values(values, per_user, rank_specs, pos, len(cand), "")
        if cold is not None:
            full_data = np.where(recs_full >= 0, to_data[np.maximum(recs_full, 0)], -1)
            full = ranking_metrics(full_data, relevant, per_user_specs) if per_user_specs else {}
            per_user.update({f"{k}_full": v for k, v in full.items()})
            _rank_values(values, full, rank_specs, recs_full, len(model.item_map_), "_full")
    ordered = {s.name: values[s.name] for s in specs}
    if cold is not None:
        ordered.update({s.name + "_full": values[s.name + "_full"] for s in rank_specs})
    return FoldResult(
        metrics=ordered,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        test_rows=np.asarray(test_rows, dtype=np.int64),
        n_train=len(train),
        errors=errors,
        ranked_users=ranked_ids,
        per_user=per_user,
        epoch_history=model.epoch_history_,
    )


def _rank_values(
    values: dict[str, float],
    per_user: dict[str, np.ndarray],
    specs: list[MetricSpec],
    recs: np.ndarray,
    n_catalogue: int,
    suffix: str,
) -> None:
    """Mean of each per-user ranking metric, or coverage over ``n_catalogue`` items."""
    for s in specs:
        if s.kind == "catalogue":
            assert s.k is not None
            values[s.name + suffix] = coverage_at_k(recs, s.k, max(n_catalogue, 1))
        else:
            v = per_user[s.name]
            values[s.name + suffix] = float(v.mean()) if v.size else math.nan


def _split_config(split: str | Mapping[str, Any], **defaults: Any) -> tuple[str, dict[str, Any]]:
    """Method name and the full option set it will run with (for the record)."""
    if isinstance(split, str):
        method, given = split, {}
    else:
        given = dict(split)
        if "method" not in given:
            raise ConfigError(f"split mapping needs a 'method' key, got {sorted(given)}")
        method = str(given.pop("method"))
    accepted = split_options(method)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ConfigError(f"split {method!r} takes options {sorted(accepted)}, not {unknown}")
    ignored = sorted(k for k, v in defaults.items() if v is not None and k not in accepted)
    if ignored:
        raise ConfigError(
            f"split {method!r} does not use {', '.join(ignored)}; it takes {sorted(accepted)}"
        )
    options = {}
    for key, default in accepted.items():
        value = given.get(key, defaults.get(key))
        value = default if value is None else value
        if value is not None:
            options[key] = value
    return method, options


def _factory(model: ModelSpec, params: Mapping[str, Any] | None) -> Callable[[], Recommender]:
    """A zero-argument callable returning a fresh, unfitted model."""
    kw = dict(params or {})
    if isinstance(model, str):
        create_model(model, **kw)  # validate the name and parameters before any fitting
        return lambda: create_model(model, **kw)
    if isinstance(model, Recommender):
        if kw:
            return lambda: type(model)(model.config, **kw)
        return lambda: type(model)(model.config)
    if callable(model):

        def make() -> Recommender:
            out = model(**kw)
            if not isinstance(out, Recommender):
                raise ConfigError(f"model factory returned {type(out).__name__}, not a model")
            return out

        return make
    raise ConfigError(f"cannot evaluate {model!r}: pass a model name, class, factory or instance")


def _load(path: str) -> Interactions:
    try:
        from rectune.data.loaders import load  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:  # pragma: no cover - the loaders module is optional here
        raise ConfigError(f"cannot read {path}: no dataset loader available ({exc})") from None
    return load(path)


__all__ = ["EvaluationResult", "FoldResult", "evaluate"]

"""`tune`: hyperparameter search with Optuna, chosen on validation data, reported on test data.

The data is split once into a training and a test part (``split``, ``test_size``, ``seed``: the
same split `rectune.evaluation.evaluate` makes, so the written config reproduces the figure).
Each trial fits the model on the training part minus a validation share carved out of it (the
same method, ``validation_size``, seed ``seed + 1``) and scores the validation rows; the test
rows are never seen by the search. The best trial's parameters are then refitted on the whole
training part and scored on the test part, beside the model's default settings.

Trials are drawn by a seeded TPE sampler; the first trial of a new study is the model's default
settings (those inside the space), so a search never ends worse on validation than them. Models
that report epochs (`rectune.training.epochs`: SVD, SVD++, NMF, BPMF, ALS, BPR and the torch
models) are scored on the validation rows after every epoch (`trial.report`), and Optuna's median
pruner stops a trial whose value is worse than the median of earlier trials at the same epoch.
With a ``storage`` URL (``sqlite:///study.db``) the study is kept there and a later call with the
same storage and study name continues it: it runs only the trials still missing to reach
``trials`` and leaves earlier ones untouched. The study records the model, metric, space and
split it was started with; resuming with other settings is an error.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import scipy.sparse as sp

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.evaluation.metric_names import check_cutoffs
from rectune.evaluation.metrics import MetricSpec, parse_metric, ranking_metrics
from rectune.evaluation.runner import evaluate
from rectune.evaluation.splits import split_rows
from rectune.models import create_model
from rectune.models.base import Recommender
from rectune.training.epochs import EpochScorer, observe_epochs
from rectune.tuning.result import TuneResult
from rectune.tuning.space import SearchSpace

logger = logging.getLogger(__name__)

#: Splits with one train/test pair (k-fold has several: evaluate a tuned config with it).
SINGLE_SPLITS = ("random", "temporal", "user-temporal", "leave-last")
#: Trials before the pruner may stop one, and epochs of each trial it never stops in (early
#: epochs favour fast starters: a small step size looks bad at epoch 2 and wins at epoch 40).
PRUNER_STARTUP_TRIALS = 8
PRUNER_WARMUP_EPOCHS = 5
_DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (rmse, mae)."""
    return parse_metric(metric).kind == "rating"


def tune(
    model: str,
    data: Interactions,
    space: SearchSpace,
    *,
    trials: int,
    metric: str = "ndcg@10",
    split: str = "random",
    test_size: float = 0.2,
    validation_size: float | None = None,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
    prune: bool = True,
    pruner_startup: int = PRUNER_STARTUP_TRIALS,
    pruner_warmup: int = PRUNER_WARMUP_EPOCHS,
    timeout: float | None = None,
) -> TuneResult:
    """Search ``space`` for ``model`` on ``data``; return the trials, the best config and its
    test figure (with the default config's beside it).

    ``trials`` is the study's total: with a ``storage`` holding earlier trials of the same study
    only the missing ones run. ``timeout`` (seconds) stops starting new trials after that long.
    The median pruner waits for ``pruner_startup`` finished trials and never stops a trial in
    its first ``pruner_warmup`` epochs.
    """
    if trials < 1:
        raise ConfigError(f"trials must be >= 1, got {trials}")
    if split not in SINGLE_SPLITS:
        raise ConfigError(
            f"tune needs a single train/test split ({', '.join(SINGLE_SPLITS)}), not {split!r}; "
            "evaluate the written config with --split kfold"
        )
    spec = parse_metric(metric)
    check_cutoffs([spec], data.n_items)
    validation_size = test_size if validation_size is None else validation_size
    _check_space(model, space)
    outer = _split_options(split, test_size, seed)
    inner = _split_options(split, validation_size, seed + 1)
    train_rows, _ = next(split_rows(data, split, **outer))
    train_part = data.subset(train_rows)
    direction = "minimize" if lower_is_better(metric) else "maximize"
    record = {
        "model": model,
        "metric": spec.name,
        "space": space.to_dict(),
        "split": {"method": split, **outer},
        "validation": {"method": split, **inner},
        "data_fingerprint": data.fingerprint(),
    }
    name = study_name or f"{model}-{spec.name}"
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=pruner_startup, n_warmup_steps=pruner_warmup)
        if prune
        else optuna.pruners.NopPruner()
    )
    study = _study(name, storage, direction, seed, pruner, record)
    if not study.trials:  # a new study: its first trial is the model's default settings
        defaults = _defaults_in_space(model, space)
        if defaults:
            study.enqueue_trial(defaults)
    done = sum(t.state in _DONE for t in study.trials)
    todo = max(trials - done, 0)
    logger.info("study %s: %d trials done, running %d", name, done, todo)

    def objective(trial: optuna.Trial) -> float:
        params = {**space.fixed, **_suggest(trial, space)}
        holder: list[Recommender] = []

        def make() -> Recommender:
            holder.append(create_model(model, **params))
            return holder[-1]

        observer = _epoch_observer(trial, holder, train_part, inner, split, spec) if prune else None
        t0 = time.perf_counter()
        if observer is None:
            res = evaluate(
                make,
                train_part,
                split={"method": split, **inner},
                metrics=[spec.name],
                seed=seed + 1,
            )
        else:
            with observe_epochs(observer):
                res = evaluate(
                    make,
                    train_part,
                    split={"method": split, **inner},
                    metrics=[spec.name],
                    seed=seed + 1,
                )
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        trial.set_user_attr("epoch_history", res_epochs(holder))
        return float(res.mean[spec.name])

    t0 = time.perf_counter()
    if todo:
        study.optimize(objective, n_trials=todo, timeout=timeout, catch=())
    search_seconds = time.perf_counter() - t0
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ConfigError(f"study {name!r} has no complete trial (all pruned or failed)")
    best = study.best_trial
    best_params = {**space.fixed, **best.params}
    t0 = time.perf_counter()
    tuned = evaluate(
        model,
        data,
        params=best_params,
        split={"method": split, **outer},
        metrics=[spec.name],
        seed=seed,
    )
    refit_seconds = time.perf_counter() - t0
    default = evaluate(
        model,
        data,
        params=dict(space.fixed),
        split={"method": split, **outer},
        metrics=[spec.name],
        seed=seed,
    )
    return TuneResult(
        model=model,
        metric=spec.name,
        direction=direction,
        study_name=name,
        storage=storage,
        record=record,
        data_path=data.source,
        trials=[_trial_dict(t) for t in study.trials],
        best_trial=best.number,
        best_params=best_params,
        best_value=float(best.value),  # type: ignore[arg-type]
        test={"tuned": _means(tuned.mean), "default": _means(default.mean)},
        default_params=dict(space.fixed),
        seconds={"search": search_seconds, "refit": refit_seconds, "ran_trials": todo},
    )


def res_epochs(holder: list[Recommender]) -> list[dict[str, float]]:
    """The epoch history of the trial's (last) fit, or [] when the model reports none."""
    return holder[-1].epoch_history_ if holder else []


def _means(mean: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in mean.items()}


def _split_options(method: str, size: float, seed: int) -> dict[str, Any]:
    if method == "leave-last":
        return {"n": 1, "seed": seed}
    return {"test_size": size, "seed": seed}


def _check_space(model: str, space: SearchSpace) -> None:
    """Every name must be a hyperparameter of ``model`` and the bounds valid values of it."""
    probe = {p.name: (p.choices[0] if p.type == "categorical" else p.low) for p in space.params}
    probes = [probe, {p.name: p.high for p in space.params if p.type != "categorical"}]
    probes += [{p.name: c} for p in space.params for c in p.choices[1:]]
    for values in probes:
        try:
            create_model(model, **{**space.fixed, **values})
        except ConfigError as exc:
            raise ConfigError(f"{space.source}: {exc}") from None


def _defaults_in_space(model: str, space: SearchSpace) -> dict[str, Any]:
    """The model's default value of every searched parameter that lies inside the space."""
    config = create_model(model, **space.fixed).config.to_dict()
    out = {}
    for p in space.params:
        value = config.get(p.name)
        if p.type == "categorical":
            if value in p.choices:
                out[p.name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if p.low <= value <= p.high and (p.type == "float" or float(value).is_integer()):  # type: ignore[operator]
                out[p.name] = value
    return out


def _study(
    name: str,
    storage: str | None,
    direction: str,
    seed: int,
    pruner: optuna.pruners.BasePruner,
    record: dict[str, Any],
) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=seed)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
    except (ValueError, ImportError, optuna.exceptions.OptunaError) as exc:
        raise ConfigError(f"storage {storage!r}: {exc}") from None
    stored = study.user_attrs.get("rectune")
    if stored is None:
        study.set_user_attr("rectune", record)
    elif stored != _jsonable(record):
        diff = sorted(k for k in record if stored.get(k) != _jsonable(record)[k])
        raise ConfigError(
            f"study {name!r} in {storage} was started with other settings ({', '.join(diff)}); "
            "use another --study-name or the same settings"
        )
    return study


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(record))


def _suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in space.params:
        if p.type == "categorical":
            out[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type == "int":
            step = int(p.step) if p.step is not None else 1
            out[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), step=step, log=p.log)  # type: ignore[arg-type]
        else:
            out[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)  # type: ignore[arg-type]
    return out


def _epoch_observer(
    trial: optuna.Trial,
    holder: list[Recommender],
    train_part: Interactions,
    inner: dict[str, Any],
    method: str,
    spec: MetricSpec,
) -> Callable[[int, float, EpochScorer], None]:
    """Score the validation rows after each epoch; report to the trial and prune if told to."""
    _, val_rows = next(split_rows(train_part, method, **inner))
    val = train_part.subset(val_rows)

    def observe(epoch: int, loss: float, score: EpochScorer) -> None:
        value = _validation_value(holder[-1], val, train_part, spec, score)
        if not math.isfinite(value):
            raise optuna.TrialPruned(f"epoch {epoch + 1}: validation {spec.name} is {value}")
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {epoch + 1}: {spec.name} {value:.4f}")

    return observe


def _validation_value(
    model: Recommender, val: Interactions, data: Interactions, spec: MetricSpec, score: EpochScorer
) -> float:
    """``spec`` on the validation rows the model knows both ids of, from its mid-fit scores."""
    users = model.user_map_.index_of(data.user_map.ids[val.users])
    items = model.item_map_.index_of(data.item_map.ids[val.items])
    known = (users >= 0) & (items >= 0)
    if not known.any():
        return math.nan
    users, items = users[known].astype(np.int64), items[known].astype(np.int64)
    if spec.kind == "rating":
        err = score(users, items) - val.values[known]
        return float(np.sqrt(np.mean(err**2)) if spec.base == "rmse" else np.mean(np.abs(err)))
    ranked = np.unique(users)
    n_items = len(model.item_map_)
    k = min(int(spec.k or 10), n_items)
    seen = model.seen_.tocsr()
    recs = np.empty((len(ranked), k), np.int64)
    block = max(1, 200_000 // max(n_items, 1))
    for start in range(0, len(ranked), block):
        rows = ranked[start : start + block]
        s = score(np.repeat(rows, n_items), np.tile(np.arange(n_items), len(rows)))
        s = s.reshape(len(rows), n_items)
        sub = seen[rows]
        s[np.repeat(np.arange(len(rows)), np.diff(sub.indptr)), sub.indices] = -np.inf
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, top, 1), axis=1, kind="stable")
        recs[start : start + len(rows)] = np.take_along_axis(top, order, 1)
    relevant = sp.csr_matrix(
        (np.ones(len(users)), (np.searchsorted(ranked, users), items)),
        shape=(len(ranked), n_items),
    )
    values = ranking_metrics(recs, relevant, [spec], n_items=n_items)[spec.name]
    return float(np.mean(values))


def _trial_dict(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "params": dict(t.params),
        "value": None if t.value is None else float(t.value),
        "intermediate": {str(k): float(v) for k, v in sorted(t.intermediate_values.items())},
        "epoch_history": t.user_attrs.get("epoch_history", []),
        "seconds": t.user_attrs.get("seconds"),
    }


def write_best_toml(result: TuneResult, path: str | Path) -> None:
    """The best config as a TOML that ``rectune evaluate --config`` and ``train --config`` take."""
    from rectune.tuning.result import best_toml

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(best_toml(result))


__all__ = ["SINGLE_SPLITS", "lower_is_better", "tune", "write_best_toml"]

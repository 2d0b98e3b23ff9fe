"""The fine-tuning and incremental-update drivers shared by every model.

`run_finetune`, `run_partial_fit` and `run_add_items` do what does not depend on the model: grow
the id maps and the parameter rows for new users and items (`rectune.training.growth`), hold
out a validation
share, mix in replayed parent rows and augmented rows, keep the L2-SP anchors (the parent's
parameters), run the epoch loop with its learning-rate schedule and early stopping, and record
lineage. They read and write the model's public state (`Tunable`); the model-specific steps come
as `ModelHooks` (one fine-tuning pass honouring the context, the update step...), so this module
imports no model.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.data.interactions import Interactions, check_interactions
from rectune.errors import ConfigError, DataError, NotFittedError
from rectune.training.config import TrainConfig
from rectune.training.growth import absorb, grow, grow_items
from rectune.training.hooks import FinetuneContext, ModelHooks, Tunable
from rectune.training.info import fit_info
from rectune.training.settings import check_honoured
from rectune.training.strategy import FinetuneStrategy

logger = logging.getLogger(__name__)


def check_supported(model: Tunable, strategy: FinetuneStrategy, train: TrainConfig) -> None:
    """Raise, naming the setting, when the model cannot honour part of the run's settings."""
    check_honoured(model, "finetune", train, strategy)
    if strategy.l2sp or strategy.freeze:
        # Validates patterns against the groups the model has (errors list them).
        strategy.lambdas(model.param_groups)
        strategy.frozen(model.param_groups)


def _sample_old(model: Tunable, n: int, rng: np.random.Generator) -> Interactions | None:
    seen = model.seen_.tocoo()
    if n <= 0 or seen.nnz == 0:
        return None
    pick = rng.choice(seen.nnz, size=min(n, seen.nnz), replace=n > seen.nnz)
    return Interactions(
        seen.row[pick].astype(np.int32),
        seen.col[pick].astype(np.int32),
        seen.data[pick],
        model.user_map_,
        model.item_map_,
        kind=model.data_kind_,
    )


def _concat_local(parts: list[Interactions]) -> Interactions:
    first = parts[0]
    if len(parts) == 1:
        return first
    return first.reindexed(
        np.concatenate([p.users for p in parts]),
        np.concatenate([p.items for p in parts]),
        first.user_map,
        first.item_map,
        values=np.concatenate([p.values for p in parts]),
        timestamps=None,
    )


def parent_record(model: Tunable) -> dict[str, Any]:
    """Who the fine-tune starts from: the loaded or saved artifact, else the in-memory fit."""
    art = model.artifact_
    if art:
        return {"id": art.get("id"), "path": art.get("path")}
    if model.fit_info_.get("parent") is not None and model.fit_info_.get("strategy") is not None:
        # An unsaved fine-tune of a fine-tune: keep pointing at the last saved ancestor.
        return dict(model.fit_info_["parent"])
    return {"id": None, "path": None, "data_fingerprint": model.fit_info_.get("data_fingerprint")}


def run_finetune(
    model: Tunable,
    hooks: ModelHooks,
    data: Interactions,
    train: TrainConfig,
    strategy: FinetuneStrategy,
) -> None:
    """Fine-tune a fitted model on ``data`` with ``strategy``; see `Recommender.finetune`."""
    _check_fitted(model)
    check_interactions(data)  # before the model changes
    check_supported(model, strategy, train)
    t0 = time.perf_counter()
    rng = np.random.default_rng([train.seed, 7])
    parent = parent_record(model)
    lambdas = strategy.lambdas(model.param_groups) if strategy.l2sp else {}
    frozen = strategy.frozen(model.param_groups) if strategy.freeze else set()
    parent_model_seen = model.seen_
    local, new_u, new_i = grow(model, hooks, data, strategy.new_ids, strategy)
    anchors = {g: np.array(a, copy=True) for g, a in model.parameter_groups().items()}
    validation = None
    if train.early_stopping is not None:
        held = rng.random(len(local)) < train.validation_fraction
        if held.all() or not held.any():
            raise DataError("too few new rows to hold out a validation share for early stopping")
        validation, local = local.subset(held), local.subset(~held)
    parts = [local]
    # Replay and pseudo-labels come from the parent's training rows (before this data).
    model_seen_now = model.seen_
    model.seen_ = _resized(parent_model_seen, len(model.user_map_), len(model.item_map_))
    if strategy.replay:
        replay = _sample_old(model, round(strategy.replay * len(local)), rng)
        if replay is not None:
            parts.append(replay)
    if strategy.augment == "pseudo":
        pseudo = _sample_old(model, round(strategy.augment_ratio * len(local)), rng)
        if pseudo is not None:
            pseudo.values = model.predict_indices(
                pseudo.users.astype(np.int64), pseudo.items.astype(np.int64)
            )
            parts.append(pseudo)
    model.seen_ = model_seen_now
    absorb(model, local)
    epochs = train.epochs if train.epochs is not None else hooks.default_epochs()
    ctx = FinetuneContext(
        data=_concat_local(parts),
        train=train,
        strategy=strategy,
        anchors=anchors,
        lambdas=lambdas,
        frozen=frozen,
        epochs=epochs,
        new_users=new_u,
        new_items=new_i,
        rng=rng,
        n_new_rows=len(local),
    )
    hooks.finetune_begin(ctx)
    best: tuple[float, dict[str, np.ndarray]] | None = None
    history: list[float] = []
    stale = 0
    for epoch in range(epochs):
        hooks.finetune_epoch(ctx, epoch, train.lr_factor(epoch, epochs))
        if validation is not None:
            score = _validation_score(model, validation, train.validation_metric)
            history.append(score)
            if best is None or score < best[0]:
                best, stale = (score, hooks.snapshot()), 0
            else:
                stale += 1
                if stale >= (train.early_stopping or 0):
                    logger.debug("early stop after epoch %d", epoch + 1)
                    break
    if best is not None:
        hooks.restore(best[1])
    hooks.finetune_end(ctx)
    hooks.invalidate_caches()
    model.fit_info_ = fit_info(
        seconds=time.perf_counter() - t0,
        data=data,
        train=train,
        strategy=strategy.to_dict(),
        parent=parent,
        epochs_run=len(history) if validation is not None else epochs,
        validation_history=history,
        new_users=len(new_u),
        new_items=len(new_i),
    )
    model.artifact_ = None  # diverged from any saved artifact; lineage goes through "parent"


def run_partial_fit(
    model: Tunable,
    hooks: ModelHooks,
    data: Interactions,
    train: TrainConfig,
    strategy: FinetuneStrategy | None = None,
) -> None:
    """Fold new events into a fitted model without retraining; see `Recommender.partial_fit`.

    ``strategy`` may only say how new ids start (``new_ids``, ``neighbors``, ``text_encoder``);
    without one, new rows start from the model's `partial_fit_init`.
    """
    _check_fitted(model)
    check_interactions(data)  # before the model changes
    t0 = time.perf_counter()
    method = model.partial_fit_init
    if strategy is not None:
        check_partial_fit_strategy(model, strategy)
        if "new_ids" in strategy.model_fields_set:
            method = strategy.new_ids
    check_honoured(model, "partial_fit", train, strategy)
    local, new_u, new_i = grow(model, hooks, data, method, strategy)
    absorb(model, local)
    hooks.partial_fit(local, new_u, new_i, train)
    hooks.invalidate_caches()
    info = {**fit_info(seconds=None), **model.fit_info_}
    if model.artifact_:
        info["parent"] = parent_record(model)
        model.artifact_ = None
    info["updates"] = (info.get("updates") or 0) + 1
    info["update_seconds"] = time.perf_counter() - t0
    info["n_interactions"] = (info.get("n_interactions") or 0) + len(data)
    model.fit_info_ = info


def run_add_items(
    model: Tunable,
    hooks: ModelHooks,
    item_ids: Any,
    strategy: FinetuneStrategy,
    item_text: Any = None,
    item_features: Any = None,
) -> int:
    """Add catalogue items without interactions; see `Recommender.add_items`."""
    _check_fitted(model)
    check_honoured(model, "add_items", TrainConfig(), strategy)
    t0 = time.perf_counter()
    new = grow_items(
        model, hooks, item_ids, strategy, item_text=item_text, item_features=item_features
    )
    if len(new):
        info = {**fit_info(seconds=None), **model.fit_info_}
        if model.artifact_:
            info["parent"] = parent_record(model)
            model.artifact_ = None
        info["updates"] = (info.get("updates") or 0) + 1
        info["new_items"] = (info.get("new_items") or 0) + len(new)
        info["update_seconds"] = time.perf_counter() - t0
        model.fit_info_ = info
    return len(new)


def check_partial_fit_strategy(model: Tunable, strategy: FinetuneStrategy) -> None:
    """`partial_fit` honours only the new-id settings of a strategy; the rest is `finetune`'s."""
    other = sorted(strategy.used())
    if other:
        raise ConfigError(
            f"partial_fit takes only new_ids, neighbors and text_encoder from a strategy, not "
            f"{', '.join(other)}: use finetune for those"
        )


def _check_fitted(model: Tunable) -> None:
    if not model.is_fitted:
        raise NotFittedError(f"{type(model).__name__} is not fitted; call fit() or load()")


def _resized(m: sp.csr_matrix, n_rows: int, n_cols: int) -> sp.csr_matrix:
    out = m.copy()
    out.resize((n_rows, n_cols))
    return out


def _validation_score(model: Tunable, val: Interactions, metric: str) -> float:
    pred = model.predict_indices(val.users.astype(np.int64), val.items.astype(np.int64))
    err = pred - val.values
    if metric == "mae":
        return float(np.mean(np.abs(err)))
    if metric != "rmse":
        raise ConfigError(f"early stopping supports validation_metric rmse or mae, not {metric!r}")
    return float(np.sqrt(np.mean(err**2)))

"""The fine-tuning and incremental-update drivers shared by every model.

`run_finetune` and `run_partial_fit` do what does not depend on the model: grow the id maps and
the parameter rows for new users and items, hold out a validation share, mix in replayed parent
rows and augmented rows, keep the L2-SP anchors (the parent's parameters), run the epoch loop
with its learning-rate schedule and early stopping, and record lineage. A model supplies only
`_finetune_epoch` (one pass honouring the context) and `_partial_fit`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, DataError
from rectune.training.config import TrainConfig
from rectune.training.init import init_rows
from rectune.training.strategy import FinetuneStrategy

if TYPE_CHECKING:
    from rectune.models.base import Recommender

logger = logging.getLogger(__name__)


@dataclass
class FinetuneContext:
    """Everything a model's `_finetune_epoch` needs to honour the strategy."""

    data: Interactions
    """Training rows in the model's index space: new rows, then replayed and augmented rows."""
    train: TrainConfig
    strategy: FinetuneStrategy
    anchors: dict[str, np.ndarray]
    """Parent value of every parameter group (new rows: their initial value)."""
    lambdas: dict[str, float]
    """L2-SP lambda per group (0: no pull toward the parent)."""
    frozen: set[str]
    """Groups that must stay bit-identical."""
    epochs: int
    new_users: np.ndarray
    new_items: np.ndarray
    rng: np.random.Generator
    n_new_rows: int = 0
    """How many leading rows of ``data`` are the new data (the rest: replay/augmentation)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def learning_rate(self, default: float) -> float:
        """The run's base step size: the training config's, else the model's own."""
        return self.train.learning_rate if self.train.learning_rate is not None else default

    def lam(self, group: str) -> float:
        return self.lambdas.get(group, 0.0)

    def is_frozen(self, group: str) -> bool:
        return group in self.frozen


def check_supported(model: Recommender, strategy: FinetuneStrategy, train: TrainConfig) -> None:
    """Raise, naming the setting, when the model cannot honour part of the strategy."""
    supported = model.supported_strategies
    wanted = strategy.used()
    if train.schedule != "constant" or train.warmup_epochs:
        wanted.add("schedule")
    if train.early_stopping is not None:
        wanted.add("early_stopping")
    if strategy.new_ids not in ("zeros", "mean"):
        wanted.add(f"new_ids={strategy.new_ids}")
    missing = sorted(w for w in wanted if w not in supported)
    if missing:
        raise ConfigError(
            f"{model.name} cannot honour strategy setting(s) {', '.join(missing)}; it supports: "
            f"{', '.join(sorted(supported)) or 'none'}"
        )
    if strategy.l2sp or strategy.freeze:
        # Validates patterns against the groups the model has (errors list them).
        strategy.lambdas(model.param_groups)
        strategy.frozen(model.param_groups)


def grow(
    model: Recommender,
    data: Interactions,
    method: str = "mean",
    strategy: FinetuneStrategy | None = None,
) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Add the data's unseen ids to the model's maps, grow parameter rows, map the rows.

    Returns the rows in the model's index space and the indices of the new users and items.
    """
    if len(data) == 0:
        raise DataError("no interactions to learn from")
    n_u0, n_i0 = len(model.user_map_), len(model.item_map_)
    users = model.user_map_.add(data.user_ids).astype(np.int32)
    items = model.item_map_.add(data.item_ids).astype(np.int32)
    local = Interactions(
        users,
        items,
        data.values,
        model.user_map_,
        model.item_map_,
        data.timestamps,
        kind=model.data_kind_,
        user_features=data.user_features,
        item_features=data.item_features,
        item_text=data.item_text,
        source=data.source,
    )
    new_u = np.arange(n_u0, len(model.user_map_))
    new_i = np.arange(n_i0, len(model.item_map_))
    if len(new_u) or len(new_i):
        model._grow(local, new_u, new_i, method, strategy or FinetuneStrategy(new_ids=method))
    return local, new_u, new_i


def grow_rows(
    model: Recommender,
    local: Interactions,
    new_u: np.ndarray,
    new_i: np.ndarray,
    method: str,
    strategy: FinetuneStrategy,
) -> None:
    """Default growth: extend every user- or item-indexed state array (see `row_axes`)."""
    n_u0, n_i0 = len(model.user_map_) - len(new_u), len(model.item_map_) - len(new_i)
    overlap_u = overlap_i = None
    if method == "neighbors":
        overlap_u, overlap_i = _overlaps(model, local, n_u0, n_i0)
    for name, axes in model.row_axes().items():
        arr = getattr(model, name + "_")
        if axes == ("user",) and len(new_u):
            rows = init_rows(
                method,
                arr[:n_u0],
                len(new_u),
                features=local.user_features,
                known_ids=model.user_map_.ids[:n_u0],
                new_ids=model.user_map_.ids[n_u0:],
                overlap=overlap_u,
                neighbors=strategy.neighbors,
                what="user",
            )
            setattr(model, name + "_", np.concatenate([arr, rows]))
        elif axes == ("item",) and len(new_i):
            rows = init_rows(
                method,
                arr[:n_i0],
                len(new_i),
                features=local.item_features,
                known_ids=model.item_map_.ids[:n_i0],
                new_ids=model.item_map_.ids[n_i0:],
                overlap=overlap_i,
                neighbors=strategy.neighbors,
                what="item",
                texts=local.item_text,
                text_encoder=strategy.text_encoder,
            )
            setattr(model, name + "_", np.concatenate([arr, rows]))
        elif axes in (("item", "item"), ("user", "user")):
            n = len(model.item_map_) if axes[0] == "item" else len(model.user_map_)
            if arr.shape[0] < n:
                out = np.zeros((n, n), dtype=arr.dtype)
                out[: arr.shape[0], : arr.shape[1]] = arr
                setattr(model, name + "_", out)


def _overlaps(
    model: Recommender, local: Interactions, n_u0: int, n_i0: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Co-interaction counts of new users with known users, and new items with known items."""
    shape = (len(model.user_map_), len(model.item_map_))
    new = sp.csr_matrix((np.ones(len(local)), (local.users, local.items)), shape=shape)
    old = model.seen_.copy()
    old.data = np.ones_like(old.data)
    old = sp.csr_matrix((old.data, old.indices, old.indptr), shape=(old.shape[0], old.shape[1]))
    old.resize(shape)
    both = (old + new).tocsr()
    both.data[:] = 1.0
    ov_u = (both[n_u0:] @ both[:n_u0].T).tocsr()
    both_t = both.T.tocsr()
    ov_i = (both_t[n_i0:] @ both_t[:n_i0].T).tocsr()
    return ov_u, ov_i


def absorb(model: Recommender, local: Interactions) -> None:
    """Merge rows into the model's seen matrix and popularity (ratings: the newest value wins).

    Linear in the stored interactions plus the new rows (a compiled merge), so a stream of small
    updates does not pay a sort of everything seen so far each time.
    """
    from rectune.models._kernels import merge_csr

    shape = (len(model.user_map_), len(model.item_map_))
    old = model.seen_
    ptr, idx, val = merge_csr(
        old.indptr,
        old.indices,
        old.data,
        shape[0],
        shape[1],
        local.users,
        local.items,
        local.values,
        model.data_kind_ == "rating",
    )
    model.seen_ = sp.csr_matrix((val, idx, ptr), shape=shape)
    model.item_popularity_ = np.bincount(idx, minlength=shape[1]).astype(float)


def _sample_old(model: Recommender, n: int, rng: np.random.Generator) -> Interactions | None:
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
    ts = None
    return Interactions(
        np.concatenate([p.users for p in parts]),
        np.concatenate([p.items for p in parts]),
        np.concatenate([p.values for p in parts]),
        first.user_map,
        first.item_map,
        ts,
        kind=first.kind,
        user_features=first.user_features,
        item_features=first.item_features,
        item_text=first.item_text,
        source=first.source,
    )


def parent_record(model: Recommender) -> dict[str, Any]:
    """Who the fine-tune starts from: the loaded or saved artifact, else the in-memory fit."""
    art = getattr(model, "artifact_", None)
    if art:
        return {"id": art.get("id"), "path": art.get("path")}
    if model.fit_info_.get("parent") is not None and model.fit_info_.get("strategy") is not None:
        # An unsaved fine-tune of a fine-tune: keep pointing at the last saved ancestor.
        return dict(model.fit_info_["parent"])
    return {"id": None, "path": None, "data_fingerprint": model.fit_info_.get("data_fingerprint")}


def run_finetune(
    model: Recommender, data: Interactions, train: TrainConfig, strategy: FinetuneStrategy
) -> Recommender:
    """Fine-tune a fitted model on ``data`` with ``strategy``; see `Recommender.finetune`."""
    model._check_fitted()
    check_supported(model, strategy, train)
    t0 = time.perf_counter()
    rng = np.random.default_rng([train.seed, 7])
    parent = parent_record(model)
    lambdas = strategy.lambdas(model.param_groups) if strategy.l2sp else {}
    frozen = strategy.frozen(model.param_groups) if strategy.freeze else set()
    parent_model_seen = model.seen_
    local, new_u, new_i = grow(model, data, strategy.new_ids, strategy)
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
    epochs = train.epochs if train.epochs is not None else model._default_finetune_epochs()
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
    model._finetune_begin(ctx)
    best: tuple[float, dict[str, np.ndarray]] | None = None
    history: list[float] = []
    stale = 0
    for epoch in range(epochs):
        model._finetune_epoch(ctx, epoch, train.lr_factor(epoch, epochs))
        if validation is not None:
            score = _validation_score(model, validation, train.validation_metric)
            history.append(score)
            if best is None or score < best[0]:
                best, stale = (score, model._snapshot_state()), 0
            else:
                stale += 1
                if stale >= (train.early_stopping or 0):
                    logger.debug("early stop after epoch %d", epoch + 1)
                    break
    if best is not None:
        model._restore_state(best[1])
    model._finetune_end(ctx)
    model._invalidate_caches()
    model.fit_info_ = {
        "fit_seconds": time.perf_counter() - t0,
        "n_interactions": len(data),
        "data_fingerprint": data.fingerprint(),
        "train": train.to_dict(),
        "strategy": strategy.to_dict(),
        "parent": parent,
        "epochs_run": len(history) if validation is not None else epochs,
        "validation_history": history,
        "new_users": len(new_u),
        "new_items": len(new_i),
    }
    model.artifact_ = None  # diverged from any saved artifact; lineage goes through "parent"
    return model


def run_partial_fit(
    model: Recommender,
    data: Interactions,
    train: TrainConfig,
    strategy: FinetuneStrategy | None = None,
) -> Recommender:
    """Fold new events into a fitted model without retraining; see `Recommender.partial_fit`.

    ``strategy`` may only say how new ids start (``new_ids``, ``neighbors``, ``text_encoder``);
    without one, new rows start from the model's `partial_fit_init`.
    """
    model._check_fitted()
    t0 = time.perf_counter()
    method = model.partial_fit_init
    if strategy is not None:
        check_partial_fit_strategy(model, strategy)
        method = strategy.new_ids
    local, new_u, new_i = grow(model, data, method, strategy)
    absorb(model, local)
    model._partial_fit(local, new_u, new_i, train)
    model._invalidate_caches()
    info = dict(getattr(model, "fit_info_", {}))
    if getattr(model, "artifact_", None):
        info["parent"] = parent_record(model)
        model.artifact_ = None
    info["updates"] = info.get("updates", 0) + 1
    info["update_seconds"] = time.perf_counter() - t0
    info["n_interactions"] = (info.get("n_interactions") or 0) + len(data)
    model.fit_info_ = info
    return model


def check_partial_fit_strategy(model: Recommender, strategy: FinetuneStrategy) -> None:
    """`partial_fit` honours only the new-id settings of a strategy; the rest is `finetune`'s."""
    other = sorted(strategy.used())
    if other:
        raise ConfigError(
            f"partial_fit takes only new_ids, neighbors and text_encoder from a strategy, not "
            f"{', '.join(other)}: use finetune for those"
        )
    wanted = f"new_ids={strategy.new_ids}"
    if strategy.new_ids not in ("zeros", "mean") and wanted not in model.supported_strategies:
        raise ConfigError(f"{model.name} cannot honour strategy setting {wanted} in partial_fit")


def _resized(m: sp.csr_matrix, n_rows: int, n_cols: int) -> sp.csr_matrix:
    out = m.copy()
    out.resize((n_rows, n_cols))
    return out


def _validation_score(model: Recommender, val: Interactions, metric: str) -> float:
    pred = model.predict_indices(val.users.astype(np.int64), val.items.astype(np.int64))
    err = pred - val.values
    if metric == "mae":
        return float(np.mean(np.abs(err)))
    if metric != "rmse":
        raise ConfigError(f"early stopping supports validation_metric rmse or mae, not {metric!r}")
    return float(np.sqrt(np.mean(err**2)))

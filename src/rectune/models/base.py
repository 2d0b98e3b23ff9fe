"""The `Recommender` template every model follows.

The base class does the bookkeeping that would otherwise be repeated in every model (as in
Surprise's ``AlgoBase`` and implicit's ``RecommenderBase``): it maps raw ids to the model's own
contiguous indices, falls back for unknown ids, clips rating estimates, masks already-seen items
and takes the top-n. A model only implements `_fit` and `_score_pairs` (and, for speed,
`_score_users`), and declares its learned state in ``state_names``; fine-tuning, updates and
`similar_items` need the optional hooks listed in ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from rectune.config import ConfigBase
from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions, check_interactions
from rectune.errors import ConfigError, DataError, NotFittedError
from rectune.models._ranking import check_n, ranked, similarity_rows
from rectune.models._state import (
    base_state,
    default_row_axes,
    fit_base_state,
    restore_base_state,
)
from rectune.registry.artifacts import load_model, save_model
from rectune.training.config import TrainConfig
from rectune.training.finetune import run_add_items, run_finetune, run_partial_fit
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext, ModelHooks
from rectune.training.info import fit_info, resolved
from rectune.training.settings import Phase, check_honoured
from rectune.training.strategy import FinetuneStrategy

logger = logging.getLogger(__name__)

#: What `finetune` and `partial_fit` accept as a strategy.
StrategySpec = FinetuneStrategy | Mapping[str, Any] | str | None


class Recommender(ABC):
    """Base class of every rectune model.

    Subclasses set ``name`` (the CLI name), ``config_class`` and ``state_names`` (learned arrays,
    stored as attributes ``<name>_``); ``param_groups`` lists the subset that training updates
    and fine-tuning strategies may address by name.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ConfigBase]]
    state_names: ClassVar[tuple[str, ...]] = ()
    param_groups: ClassVar[tuple[str, ...]] = ()
    #: True for models whose scores estimate ratings (RMSE is meaningful).
    predicts_ratings: ClassVar[bool] = True
    #: Settings each phase honours, as tokens of `rectune.training.settings` (``epochs``,
    #: ``learning_rate``, ``schedule``, ``early_stopping``, ``l2sp``, ``freeze``, ``clip_norm``,
    #: ``replay``, ``augment=pseudo``, ``new_ids=neighbors``...); anything else asked is refused.
    supported_strategies: ClassVar[frozenset[str]] = frozenset()  # finetune
    fit_settings: ClassVar[frozenset[str]] = frozenset()
    partial_fit_settings: ClassVar[frozenset[str]] = frozenset()
    #: How `partial_fit` starts rows of new ids before folding them in.
    partial_fit_init: ClassVar[str] = "mean"
    #: The ``new_ids`` starts (``ITEM_ROW_STARTS`` tokens) that give an item `add_items` adds
    #: without interactions a meaningful row; any other start is refused.
    add_items_settings: ClassVar[frozenset[str]] = frozenset()
    #: True when the model turns item text into item vectors itself (content-kNN, the text
    #: model): ``new_ids="text"`` then needs no known items' text and no ``text_encoder``.
    embeds_item_text: ClassVar[bool] = False

    user_map_: IdMap
    item_map_: IdMap
    global_mean_: float
    rating_range_: np.ndarray
    item_popularity_: np.ndarray
    seen_: sp.csr_matrix
    data_kind_: str
    _fit_info: dict[str, Any]
    #: The artifact this state was saved to or loaded from (None once it diverged).
    artifact_: dict[str, Any] | None = None
    #: How `rectune.compression` compressed this state (method, record, ``storage`` plan of
    #: `rectune.registry.codecs`), honoured by `save`; None for an ordinary model.
    compression_: dict[str, Any] | None = None

    def __init__(self, config: ConfigBase | Mapping[str, Any] | None = None, **params: Any) -> None:
        if config is None:
            config = self.config_class.from_dict(params)
        elif isinstance(config, Mapping):
            config = self.config_class.from_dict({**config, **params})
        elif not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        elif params:
            config = config.with_overrides(**params)
        self.config = config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "user_map_")

    @property
    def fit_info_(self) -> dict[str, Any]:
        """How this state came to be (`rectune.training.info.fit_info`); the data fingerprint
        is computed on first read, so a fit that needs no compiled kernel loads none."""
        return resolved(self._fit_info)

    @fit_info_.setter
    def fit_info_(self, value: dict[str, Any]) -> None:
        self._fit_info = value

    @property
    def epoch_history_(self) -> list[dict[str, float]]:
        """Per-epoch values of the last fit (``fit_info_["epoch_history"]``), without computing
        the record's pending data fingerprint; [] for models that do not train in epochs."""
        info = getattr(self, "_fit_info", None) or {}
        return list(info.get("epoch_history") or [])

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load()")

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: Interactions,
        *,
        train: TrainConfig | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
    ) -> Self:
        """Learn from ``data`` from scratch (a second call starts over) and return ``self``.

        ``checkpoint_dir`` (models trained by epochs: the torch models) checkpoints after every
        epoch and resumes from a checkpoint there; a model without an epoch loop refuses it.
        """
        if checkpoint_dir is not None:
            raise ConfigError(
                f"{self.name} cannot checkpoint: checkpoint_dir applies to the torch models, "
                "trained epoch by epoch (ncf, two-tower, sasrec, text); drop it"
            )
        train = train or TrainConfig()
        if len(data) == 0:
            raise DataError("cannot fit on an empty dataset")
        check_interactions(data)
        check_honoured(self, "fit", train)
        local = self._prepare(data)
        self.artifact_ = self.compression_ = None
        self._epoch_history: list[dict[str, float]] = []  # `report_epoch` appends per epoch
        t0 = time.perf_counter()
        self._fit(local, train)
        seconds = time.perf_counter() - t0
        self.fit_info_ = fit_info(
            seconds=seconds, data=data, train=train, epoch_history=self._epoch_history
        )
        logger.debug("fitted %s in %.3fs", self.name, seconds)
        return self

    def _prepare(self, data: Interactions) -> Interactions:
        """Compact id maps over the ids present in ``data`` and set the shared base state."""
        return fit_base_state(self, data)

    @abstractmethod
    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        """Learn the model state from ``data`` indexed by the model's own maps."""

    # ------------------------------------------------------------------ fine-tuning, updates
    def finetune(
        self, data: Interactions, *, train: TrainConfig | None = None, strategy: StrategySpec = None
    ) -> Self:
        """Continue training this fitted model (the parent) on ``data``; returns ``self``.

        ``train`` may set a new learning rate, epochs, schedule and early stopping;
        ``strategy`` (a `FinetuneStrategy`, mapping, preset name or ``"k=v;k=v"`` text) adds
        L2-SP toward the parent, frozen groups, clipping, new-id initialisation, replay and
        augmentation. A setting the model cannot honour raises `ConfigError` naming it.
        """
        spec = FinetuneStrategy.parse(strategy)
        run_finetune(self, self._training_hooks(), data, train or TrainConfig(), spec)
        return self

    def partial_fit(
        self, data: Interactions, *, train: TrainConfig | None = None, strategy: StrategySpec = None
    ) -> Self:
        """Fold new events into the fitted model without retraining; returns ``self``.

        New users and items get rows; only rows the events touch change; derived caches are
        rebuilt in one place (`_invalidate_caches`). ``strategy`` (as in `finetune`) may set
        only how new rows start: ``new_ids`` (e.g. ``"text"``), ``neighbors``, ``text_encoder``;
        by default they start from the model's ``partial_fit_init``. Models that fold new rows
        in by closed form (SVD, ALS) replace that start; SGD and torch models move from it.
        """
        spec = None if strategy is None else FinetuneStrategy.parse(strategy)
        run_partial_fit(self, self._training_hooks(), data, train or TrainConfig(), spec)
        return self

    def add_items(
        self,
        item_ids: Any,
        *,
        item_text: pd.Series | Mapping[Any, str] | None = None,
        item_features: pd.DataFrame | None = None,
        new_ids: str = "text",
        text_encoder: str = "minilm",
    ) -> int:
        """Add catalogue items that have text or features but no interactions yet, so that
        they are recommendable before anyone touched them; returns how many were added.

        Ids already known are skipped. ``new_ids`` says how their rows start: ``text`` (a
        ridge map from ``text_encoder`` embeddings to rows, fitted on the known items: so
        ``item_text``, raw item id -> text, must cover the new items and should cover the
        known ones), ``features`` (the same from ``item_features``, a DataFrame indexed by raw
        item id), ``mean`` or ``zeros``. A start the model cannot make meaningful (its
        ``add_items_settings``) raises `ConfigError` naming it; nothing changes then.

        Examples
        --------
        >>> from rectune.models import create_model
        >>> data = Interactions.from_raw([1, 1, 2, 2], ["a", "b", "a", "c"], [5, 3, 4, 2])
        >>> model = create_model("baseline").fit(data)
        >>> model.add_items(["a", "new"], new_ids="mean")
        1
        >>> bool(np.isfinite(model.predict([1], ["new"])[0]))
        True
        """
        strategy = FinetuneStrategy.from_dict({"new_ids": new_ids, "text_encoder": text_encoder})
        hooks = self._training_hooks()
        return run_add_items(self, hooks, item_ids, strategy, item_text, item_features)

    def honoured_settings(self, phase: Phase) -> frozenset[str]:
        """The settings ``phase`` honours (models whose answer depends on the config override)."""
        if phase == "fit":
            return self.fit_settings
        if phase == "add_items":
            return self.add_items_settings
        return self.supported_strategies if phase == "finetune" else self.partial_fit_settings

    def _training_hooks(self) -> ModelHooks:
        """This model's steps, handed to the drivers in `rectune.training.finetune`."""
        return ModelHooks(
            grow=self._grow,
            finetune_begin=self._finetune_begin,
            finetune_epoch=self._finetune_epoch,
            finetune_end=self._finetune_end,
            partial_fit=self._partial_fit,
            snapshot=self._snapshot_state,
            restore=self._restore_state,
            invalidate_caches=self._invalidate_caches,
            default_epochs=self._default_finetune_epochs,
            check_new_items=self._check_new_items,
        )

    def _check_new_items(
        self, ids: np.ndarray, text: pd.Series | None, features: pd.DataFrame | None, method: str
    ) -> None:
        """Refuse catalogue items (`add_items`) the model cannot start well; before changes."""
        return None

    def learn_one(self, user: Any, item: Any, value: float = 1.0) -> Self:
        """Learn one event (River's vocabulary); compiled models override for speed."""
        one = Interactions.from_raw([user], [item], [value], kind=self.data_kind_)  # type: ignore[arg-type]
        return self.partial_fit(one)

    def predict_one(self, user: Any, item: Any) -> float:
        """Rating estimate of one pair."""
        return float(self.predict([user], [item])[0])

    def row_axes(self) -> dict[str, tuple[str, ...]]:
        """Which entity each axis of a state array indexes (growth of new ids).

        By default ``user_*`` arrays are user rows, ``item_*``/``implicit_*`` item rows, and
        ``*_similarity`` square matrices; models override for anything else.
        """
        return default_row_axes(self.state_names)

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """Grow what `row_axes` does not name for new ids (the driver grew those arrays first);
        ``init.rows(known, side)`` starts rows as the strategy's ``new_ids`` says."""
        return None

    def _default_finetune_epochs(self) -> int:
        return int(getattr(self.config, "epochs", 1))

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        """Prepare per-run structures before the first fine-tuning epoch."""
        return None

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One fine-tuning pass over ``ctx.data`` honouring ``ctx`` (L2-SP, frozen groups...)."""
        raise ConfigError(f"{self.name} does not support fine-tuning")

    def _finetune_end(self, ctx: FinetuneContext) -> None:
        return None

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """Update the rows the events touch (new rows already exist)."""
        raise ConfigError(f"{self.name} does not support partial_fit")

    def _snapshot_state(self) -> dict[str, Any]:
        """A copy of the learned state (early stopping keeps the best epoch's)."""
        return {name: np.array(getattr(self, name + "_"), copy=True) for name in self.state_names}

    def _restore_state(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name + "_", value)

    def _invalidate_caches(self) -> None:
        """Rebuild every cache derived from the state; the one place updates call."""
        self._after_load()

    # ------------------------------------------------------------------ scoring
    @abstractmethod
    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of known (user index, item index) pairs; higher is better."""

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for each known user index: shape (len(users), n_items)."""
        n_items = len(self.item_map_)
        uu = np.repeat(users, n_items)
        ii = np.tile(np.arange(n_items), len(users))
        return self._score_pairs(uu, ii).reshape(len(users), n_items)

    def _predict_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Rating estimates of known pairs; by default the scores."""
        return self._score_pairs(users, items)

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Estimates where the user or the item is unknown (index -1): the global mean."""
        return np.full(len(users), self.global_mean_)

    def _fallback_scores(self, n_rows: int) -> np.ndarray:
        """Full-catalogue scores for unknown users: popularity."""
        return np.broadcast_to(self.item_popularity_, (n_rows, len(self.item_map_)))

    def _index_pairs(self, users: Any, items: Any) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        u = self.user_map_.index_of(users)
        i = self.item_map_.index_of(items)
        if len(u) != len(i):
            raise ValueError(f"users and items differ in length: {len(u)} != {len(i)}")
        return u, i

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Rating estimates for raw (user, item) id pairs, clipped to the training range.

        Pairs with an unknown user or item get the model's fallback (the global mean, plus
        whatever biases are known), never an error.
        """
        u, i = self._index_pairs(users, items)
        return self.predict_indices(u, i)

    def predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """`predict` on model indices (-1 for unknown); used by evaluation loops."""
        out = np.empty(len(u), dtype=np.float64)
        known = (u >= 0) & (i >= 0)
        if known.any():
            out[known] = self._predict_pairs(u[known], i[known])
        if (~known).any():
            out[~known] = self._fallback_pairs(u[~known], i[~known])
        if self.data_kind_ == "rating":
            np.clip(out, self.rating_range_[0], self.rating_range_[1], out=out)
        return out

    def score(self, users: Any, items: Any) -> np.ndarray:
        """Unclipped ranking scores for raw (user, item) pairs (unknown pairs: fallback)."""
        u, i = self._index_pairs(users, items)
        out = np.empty(len(u), dtype=np.float64)
        known = (u >= 0) & (i >= 0)
        out[known] = self._score_pairs(u[known], i[known])
        out[~known] = self._fallback_pairs(u[~known], i[~known])
        return out

    # ------------------------------------------------------------------ ranking
    def recommend(
        self, users: Any, n: int = 10, *, exclude_seen: bool = True, candidates: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for each raw user id, batch first.

        Returns ``(item_ids, scores)``, both of shape ``(len(users), n)``, best first. Unknown
        users get the most popular items. With ``candidates`` only those raw item ids are
        ranked; unknown candidates are ignored.
        """
        self._check_fitted()
        check_n(n)
        u = self.user_map_.index_of(users)
        cand = None if candidates is None else self.item_map_.index_of(candidates)
        if cand is not None:
            cand = np.unique(cand[cand >= 0])
        idx, scores = self.recommend_indices(u, n, exclude_seen=exclude_seen, candidates=cand)
        ids = self.item_map_.ids[np.maximum(idx, 0)]
        return ids, scores

    def recommend_indices(
        self, users: np.ndarray, n: int, *, exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """`recommend` on model indices; -1 rows are unknown users (popularity fallback)."""
        users = np.asarray(users, dtype=np.int64)
        return ranked(
            users,
            n,
            len(self.item_map_),
            self.score_users_indices,
            masked=self.seen_ if exclude_seen else None,
            candidates=candidates,
        )

    def similar_items(self, items: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to each raw item id, batch first (the item excluded).

        Returns ``(item_ids, scores)`` of shape ``(len(items), n)``, most similar first; an
        unknown item's row has scores -inf. Similarities come from the model's item factors,
        similarity matrix or item vectors (`_item_similarities`); a model without any raises
        `ConfigError`.
        """
        self._check_fitted()
        check_n(n)
        idx, n_items = self.item_map_.index_of(items), len(self.item_map_)
        block = partial(similarity_rows, n_items=n_items, similarities=self._item_similarities)
        found, scores = ranked(idx, n, n_items, block)
        return self.item_map_.ids[np.maximum(found, 0)], scores

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Similarity of known item indices to every item: shape (len(items), n_items)."""
        raise ConfigError(
            f"{self.name} has no item similarities (no item factors, vectors or similarity "
            "matrix): similar_items is not available for it"
        )

    def score_users_indices(self, users: np.ndarray) -> np.ndarray:
        """Full-catalogue score matrix (writable) for user indices, -1 meaning unknown."""
        users = np.asarray(users, dtype=np.int64)
        scores = np.empty((len(users), len(self.item_map_)), dtype=np.float64)
        known = users >= 0
        if known.any():
            scores[known] = self._score_users(users[known])
        if (~known).any():
            scores[~known] = self._fallback_scores(int((~known).sum()))
        return scores

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        """Every learned array by name: the model's ``state_names`` plus the base state."""
        self._check_fitted()
        state = {name: np.asarray(getattr(self, name + "_")) for name in self.state_names}
        return {**state, **base_state(self)}

    def set_state(
        self, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
    ) -> Self:
        """Restore learned arrays saved by `get_state` (used by `load`)."""
        missing = [k for k in self.state_names if k not in state]
        if missing:
            raise NotFittedError(f"state lacks {missing} for {type(self).__name__}")
        for name in self.state_names:
            setattr(self, name + "_", state[name])
        restore_base_state(self, state, user_map, item_map, kind)
        self._after_load()
        return self

    def _after_load(self) -> None:
        """Rebuild derived caches after `set_state` (override when a model has any)."""
        return None

    def parameter_groups(self) -> dict[str, np.ndarray]:
        """The learnable parameter groups by name (the ones fine-tuning may address)."""
        self._check_fitted()
        return {name: getattr(self, name + "_") for name in self.param_groups}

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> str:
        """Write an artifact directory; see `rectune.registry.save_model`."""
        return save_model(self, path, **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recommender:
        """Read an artifact directory written by `save`."""
        model = load_model(path)
        if cls is not Recommender and not isinstance(model, cls):
            raise ConfigError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

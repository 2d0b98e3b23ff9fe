"""What the training drivers need from a model, so that `rectune.training` imports no model.

`Tunable` is the public state the fine-tune and update drivers read and write (id maps, seen
matrix, fit record...); `ModelHooks` carries the model-specific steps (grow extra structures,
fine-tuning epochs, the update step, snapshots), handed over by the model itself
(`Recommender` builds them from its own ``_finetune_epoch``, ``_partial_fit``... methods).
`FinetuneContext` is what one fine-tuning run gives those steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.sparse as sp

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.training.config import TrainConfig
from rectune.training.strategy import FinetuneStrategy

if TYPE_CHECKING:
    from rectune.training.growth import RowInit


class Tunable(Protocol):
    """The public state of a fitted model that the drivers use (`Recommender` has it all)."""

    name: str
    user_map_: IdMap
    item_map_: IdMap
    seen_: sp.csr_matrix
    item_popularity_: np.ndarray
    data_kind_: str
    fit_info_: dict[str, Any]
    artifact_: dict[str, Any] | None

    @property
    def is_fitted(self) -> bool: ...

    @property
    def param_groups(self) -> tuple[str, ...]: ...

    @property
    def supported_strategies(self) -> frozenset[str]: ...

    @property
    def partial_fit_init(self) -> str: ...

    @property
    def embeds_item_text(self) -> bool: ...

    def parameter_groups(self) -> dict[str, np.ndarray]: ...

    def honoured_settings(self, phase: Any) -> frozenset[str]: ...

    def row_axes(self) -> dict[str, tuple[str, ...]]: ...

    def predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray: ...


@dataclass
class FinetuneContext:
    """Everything a model's fine-tuning steps need to honour the strategy."""

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
    """Per-run structures a model builds in its first step (CSR views, a torch trainer...)."""

    def learning_rate(self, default: float) -> float:
        """The run's base step size: the training config's, else the model's own."""
        return self.train.learning_rate if self.train.learning_rate is not None else default

    def lam(self, group: str) -> float:
        return self.lambdas.get(group, 0.0)

    def is_frozen(self, group: str) -> bool:
        return group in self.frozen


@dataclass(frozen=True)
class ModelHooks:
    """The model-specific steps of fine-tuning and updates, supplied by the model."""

    grow: Callable[[Interactions, np.ndarray, np.ndarray, RowInit], None]
    """Grow what `Tunable.row_axes` does not cover, after the driver grew those arrays."""
    finetune_begin: Callable[[FinetuneContext], None]
    finetune_epoch: Callable[[FinetuneContext, int, float], None]
    """One pass honouring the context; the float is the epoch's learning-rate factor."""
    finetune_end: Callable[[FinetuneContext], None]
    partial_fit: Callable[[Interactions, np.ndarray, np.ndarray, TrainConfig], None]
    """Update the rows new events touch (rows of new ids already exist)."""
    snapshot: Callable[[], dict[str, Any]]
    restore: Callable[[dict[str, Any]], None]
    invalidate_caches: Callable[[], None]
    default_epochs: Callable[[], int]
    check_new_items: Callable[[np.ndarray, Any, Any, str], None] = field(
        default=lambda ids, text, features, method: None
    )
    """Refuse, before anything changes, catalogue items (``add_items``: raw ids, item text,
    item features, ``new_ids`` method) the model cannot give meaningful rows."""

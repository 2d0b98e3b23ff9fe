"""`Popularity`: most-interacted items first, damped item means as rating estimates.

The non-personalised baseline every model is compared with, and the fallback the base class
uses for unknown users.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models.base import Recommender
from rectune.training.config import TrainConfig
from rectune.training.hooks import FinetuneContext


class PopularityConfig(ConfigBase):
    """Hyperparameters of `Popularity`."""

    damping: float = Field(5.0, ge=0)
    """Pseudo-count pulling an item's mean rating toward the global mean (rating estimates)."""


class Popularity(Recommender):
    """Most-interacted items first; damped item means as rating estimates.

    Examples
    --------
    >>> from rectune import Interactions
    >>> data = Interactions.from_raw([1, 1, 2, 3], ["a", "b", "a", "a"], [5, 3, 4, 4])
    >>> Popularity().fit(data).recommend([2], n=1)[0].tolist()
    [['b']]
    """

    name = "popularity"
    config_class = PopularityConfig
    config: PopularityConfig
    state_names = ("item_mean",)
    param_groups = ()
    predicts_ratings = True  # predict() gives damped item means: RMSE is meaningful

    item_mean_: np.ndarray

    #: Counts absorb new rows; replayed or pseudo-labelled rows are not counted, epochs and
    #: new-id starts have nothing to act on: fine-tuning honours no setting.
    supported_strategies = frozenset()
    #: A catalogue item without interactions has popularity 0: nothing else is meaningful.
    add_items_settings = frozenset({"new_ids=zeros"})

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        self._after_load()

    def _after_load(self) -> None:
        # Item means follow from the seen matrix; updates rebuild them here.
        seen = self.seen_
        sums = np.bincount(seen.indices, weights=seen.data, minlength=seen.shape[1])
        d = self.config.damping
        self.item_mean_ = (sums + d * self.global_mean_) / (self.item_popularity_ + d)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """Counts and means absorb the new rows; there is nothing to iterate."""
        return None

    def _default_finetune_epochs(self) -> int:
        return 1

    def _partial_fit(
        self,
        local: Interactions,
        new_users: np.ndarray,
        new_items: np.ndarray,
        train: TrainConfig,
    ) -> None:
        return None

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.item_popularity_[items]

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.item_popularity_, (len(users), 1))

    def _predict_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.item_mean_[items]

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = np.full(len(items), self.global_mean_)
        known = items >= 0
        out[known] = self.item_mean_[items[known]]
        return out

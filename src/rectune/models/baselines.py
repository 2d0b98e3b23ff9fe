"""Non-personalised and bias-only baselines.

`Popularity` ranks by interaction count; `Baseline` fits ``r_ui ~ mu + b_u + b_i`` the way
Surprise's ``BaselineOnly`` does (alternating least squares or SGD, Koren 2010, "Factor in the
neighbors", section 2.1). Both are also the fallbacks other models lean on for unknown ids.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models.base import Recommender
from rectune.training.config import TrainConfig


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
    predicts_ratings = False

    item_mean_: np.ndarray

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        sums = np.bincount(data.items, weights=data.values, minlength=data.n_items)
        d = self.config.damping
        self.item_mean_ = (sums + d * self.global_mean_) / (self.item_popularity_ + d)

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


class BaselineConfig(ConfigBase):
    """Hyperparameters of `Baseline` (defaults match Surprise's ``BaselineOnly``)."""

    method: Literal["als", "sgd"] = "als"
    """Alternating least squares (closed-form steps) or stochastic gradient descent."""
    epochs: int = Field(10, ge=1)
    """Passes over the data (Surprise: 10 for ALS, 20 for SGD)."""
    reg_user: float = Field(15.0, ge=0)
    """ALS: regularisation of user biases."""
    reg_item: float = Field(10.0, ge=0)
    """ALS: regularisation of item biases."""
    reg: float = Field(0.02, ge=0)
    """SGD: regularisation of both biases."""
    learning_rate: float = Field(0.005, gt=0)
    """SGD: step size."""


class Baseline(Recommender):
    """Global mean plus user and item biases.

    Examples
    --------
    >>> from rectune import Interactions
    >>> data = Interactions.from_raw([1, 1, 2, 2], ["a", "b", "a", "b"], [5, 3, 4, 2])
    >>> model = Baseline(reg_user=0, reg_item=0, epochs=20).fit(data)
    >>> [round(x, 2) for x in model.predict([1, 2], ["a", "b"])]
    [5.0, 2.0]
    """

    name = "baseline"
    config_class = BaselineConfig
    config: BaselineConfig
    state_names = ("user_bias", "item_bias")
    param_groups = ("user_bias", "item_bias")

    user_bias_: np.ndarray
    item_bias_: np.ndarray

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        self.user_bias_, self.item_bias_ = fit_biases(
            data, self.config, self.global_mean_, train.seed
        )

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.global_mean_ + self.user_bias_[users] + self.item_bias_[items]

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.global_mean_ + self.user_bias_[users, None] + self.item_bias_[None, :]

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return bias_fallback(self.global_mean_, self.user_bias_, self.item_bias_, users, items)


def bias_fallback(
    mu: float, bu: np.ndarray, bi: np.ndarray, users: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """``mu`` plus whichever of the user and item biases is known (index >= 0)."""
    out = np.full(len(users), mu)
    ku, ki = users >= 0, items >= 0
    out[ku] += bu[users[ku]]
    out[ki] += bi[items[ki]]
    return out


def fit_biases(
    data: Interactions, cfg: BaselineConfig, mu: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """User and item biases as in Surprise's ``baseline_only`` (ALS or SGD)."""
    if cfg.method == "sgd":
        from rectune.models._kernels import sgd_biases

        bu = np.zeros(data.n_users)
        bi = np.zeros(data.n_items)
        sgd_biases(
            data.users, data.items, data.values, mu, bu, bi, cfg.epochs, cfg.learning_rate, cfg.reg
        )
        return bu, bi
    from rectune.models._kernels import als_biases

    return als_biases(
        data.users,
        data.items,
        data.values,
        mu,
        data.n_users,
        data.n_items,
        cfg.epochs,
        cfg.reg_user,
        cfg.reg_item,
    )

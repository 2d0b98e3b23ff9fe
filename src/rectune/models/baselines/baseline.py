"""`Baseline`: the bias-only model ``r_ui ~ mu + b_u + b_i``.

Fitted the way Surprise's ``BaselineOnly`` does (alternating least squares or SGD, Koren 2010,
"Factor in the neighbors", section 2.1). Its biases are also the fallback other models lean on
for unknown ids (`bias_fallback`) and the baselines of the kNN models (`fit_biases`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.data.sparse import csr_from_pairs
from rectune.errors import ConfigError
from rectune.models._shared import als_bias_rows
from rectune.models.base import Recommender
from rectune.models.baselines._kernels import als_biases, sgd_biases, sgd_biases_finetune
from rectune.training.config import TrainConfig
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import ITEM_ROW_STARTS, Phase


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
    >>> model.predict([1, 2], ["a", "b"]).round(2).tolist()
    [5.0, 2.0]
    """

    name = "baseline"
    config_class = BaselineConfig
    config: BaselineConfig
    state_names = ("user_bias", "item_bias")
    param_groups = ("user_bias", "item_bias")

    user_bias_: np.ndarray
    item_bias_: np.ndarray

    supported_strategies = frozenset(
        {
            "l2sp",
            "freeze",
            "clip_norm",
            "replay",
            "augment=pseudo",
            "schedule",
            "early_stopping",
            "new_ids=features",
            "new_ids=neighbors",
            "new_ids=zeros",
            "learning_rate",
            "epochs",
        }
    )
    partial_fit_init = "zeros"
    partial_fit_settings = frozenset({"new_ids=mean", "new_ids=features", "new_ids=neighbors"})
    #: A new item's bias from a ridge map of its text or features, the mean bias, or 0.
    add_items_settings = ITEM_ROW_STARTS

    def honoured_settings(self, phase: Phase) -> frozenset[str]:
        """ALS steps are closed-form: no step size, schedule or gradient to clip."""
        out = super().honoured_settings(phase)
        if phase == "finetune" and self.config.method == "als":
            out = out - {"learning_rate", "schedule", "clip_norm"}
        return out

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        self.user_bias_, self.item_bias_ = fit_biases(
            data, self.config, self.global_mean_, train.seed
        )

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        if self.config.method == "als" and ctx.strategy.clip_norm is not None:
            raise ConfigError("clip_norm needs method='sgd': ALS steps have no gradient to clip")
        d = ctx.data
        ctx.extra["by_user"] = csr_from_pairs(d.users, d.items, d.values, len(self.user_map_))
        ctx.extra["by_item"] = csr_from_pairs(d.items, d.users, d.values, len(self.item_map_))

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One ALS sweep (touched rows only, ridge toward the parent) or one SGD epoch."""
        cfg, d = self.config, ctx.data
        lam_u, lam_i = ctx.lam("user_bias"), ctx.lam("item_bias")
        mu = self.global_mean_
        if cfg.method == "als":
            if not ctx.is_frozen("item_bias"):
                ip, ii, iv = ctx.extra["by_item"]
                als_bias_rows(
                    ip,
                    ii,
                    iv,
                    mu,
                    self.user_bias_,
                    self.item_bias_,
                    ctx.anchors["item_bias"],
                    cfg.reg_item,
                    lam_i,
                    np.unique(d.items),
                )
            if not ctx.is_frozen("user_bias"):
                up, ui, uv = ctx.extra["by_user"]
                als_bias_rows(
                    up,
                    ui,
                    uv,
                    mu,
                    self.item_bias_,
                    self.user_bias_,
                    ctx.anchors["user_bias"],
                    cfg.reg_user,
                    lam_u,
                    np.unique(d.users),
                )
            return
        lr = ctx.learning_rate(cfg.learning_rate) * lr_scale
        lr_u = 0.0 if ctx.is_frozen("user_bias") else lr
        lr_i = 0.0 if ctx.is_frozen("item_bias") else lr
        sgd_biases_finetune(
            d.users,
            d.items,
            d.values,
            mu,
            self.user_bias_,
            self.item_bias_,
            ctx.anchors["user_bias"],
            ctx.anchors["item_bias"],
            lr_u,
            lr_i,
            cfg.reg,
            lam_u,
            lam_i,
            ctx.strategy.clip_norm or 0.0,
            ctx.rng.permutation(len(d)),
        )

    def _partial_fit(
        self,
        local: Interactions,
        new_users: np.ndarray,
        new_items: np.ndarray,
        train: TrainConfig,
    ) -> None:
        """Fold-in: closed-form biases of the touched items, then users, over all their rows."""
        by_user, by_item = self.seen_, self.seen_.T.tocsr()
        cfg = self.config
        reg_u, reg_i = (cfg.reg_user, cfg.reg_item) if cfg.method == "als" else (15.0, 10.0)
        zu, zi = np.zeros_like(self.user_bias_), np.zeros_like(self.item_bias_)
        mu = self.global_mean_
        als_bias_rows(
            by_item.indptr,
            by_item.indices,
            by_item.data,
            mu,
            self.user_bias_,
            self.item_bias_,
            zi,
            reg_i,
            0.0,
            np.unique(local.items),
        )
        als_bias_rows(
            by_user.indptr,
            by_user.indices,
            by_user.data,
            mu,
            self.item_bias_,
            self.user_bias_,
            zu,
            reg_u,
            0.0,
            np.unique(local.users),
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
        bu = np.zeros(data.n_users)
        bi = np.zeros(data.n_items)
        sgd_biases(
            data.users, data.items, data.values, mu, bu, bi, cfg.epochs, cfg.learning_rate, cfg.reg
        )
        return bu, bi
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

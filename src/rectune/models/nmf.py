"""`NMF`: non-negative matrix factorisation of ratings by multiplicative updates.

The algorithm of Luo, Zhou, Xia and Zhu (2014), "An efficient non-negative matrix-factorization-
based approach to collaborative filtering for recommender systems", IEEE Transactions on
Industrial Informatics 10(2), as implemented by Surprise's ``NMF`` (whose defaults and optional
SGD-trained biases this follows): factors start uniform in ``[init_low, init_high]`` and every
epoch rescales them by ``sum r q / sum est q`` ratios, so they stay non-negative.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models.svd import GROUPS, FactorModel
from rectune.training.config import TrainConfig


class NMFConfig(ConfigBase):
    """Hyperparameters of `NMF` (defaults match Surprise's ``NMF``)."""

    embedding_size: int = Field(15, ge=1)
    """Number of latent factors (Surprise: ``n_factors``)."""
    epochs: int = Field(50, ge=1)
    """Multiplicative-update passes."""
    biased: bool = False
    """Add mu + b_u + b_i (trained by SGD); Surprise warns this is prone to overfitting."""
    reg_user_factors: float = Field(0.06, ge=0)
    """Penalty of p_u (Surprise: ``reg_pu``)."""
    reg_item_factors: float = Field(0.06, ge=0)
    """Penalty of q_i (Surprise: ``reg_qi``)."""
    reg_user_bias: float = Field(0.02, ge=0)
    """Penalty of b_u when ``biased`` (Surprise: ``reg_bu``)."""
    reg_item_bias: float = Field(0.02, ge=0)
    """Penalty of b_i when ``biased`` (Surprise: ``reg_bi``)."""
    learning_rate_user_bias: float = Field(0.005, gt=0)
    """SGD step size of b_u when ``biased`` (Surprise: ``lr_bu``)."""
    learning_rate_item_bias: float = Field(0.005, gt=0)
    """SGD step size of b_i when ``biased`` (Surprise: ``lr_bi``)."""
    init_low: float = Field(0.0, ge=0)
    """Lower bound of the uniform factor initialisation."""
    init_high: float = Field(1.0, gt=0)
    """Upper bound of the uniform factor initialisation."""

    @model_validator(mode="after")
    def _check_init(self) -> NMFConfig:
        if self.init_high <= self.init_low:
            raise ValueError("init_high must exceed init_low")
        return self


class NMF(FactorModel):
    """Non-negative matrix factorisation for ratings (Luo et al. 2014; Surprise's ``NMF``).

    Estimates ``r_ui = q_i . p_u`` (plus ``mu + b_u + b_i`` when ``biased``) with non-negative
    factors. Unknown ids: the global mean, or the known biases when ``biased`` (as Surprise).

    Parameters
    ----------
    config
        An `NMFConfig`, or its fields as keyword arguments.

    Examples
    --------
    >>> from rectune import Interactions
    >>> data = Interactions.from_raw([1, 1, 2, 2, 3], ["a", "b", "a", "b", "a"], [5, 1, 4, 2, 5])
    >>> model = NMF(embedding_size=2, epochs=100).fit(data)
    >>> bool((model.user_factors_ >= 0).all() and (model.item_factors_ >= 0).all())
    True
    >>> bool(model.predict([3], ["b"])[0] < model.predict([3], ["a"])[0])
    True
    """

    name = "nmf"
    config_class = NMFConfig
    config: NMFConfig

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        from rectune.models._mf_kernels import nmf_fit, padded

        cfg = self.config
        rng = np.random.default_rng(train.seed)
        k = cfg.embedding_size
        self.user_factors_ = rng.uniform(cfg.init_low, cfg.init_high, (data.n_users, k))
        self.item_factors_ = rng.uniform(cfg.init_low, cfg.init_high, (data.n_items, k))
        self.user_bias_ = np.zeros(data.n_users)
        self.item_bias_ = np.zeros(data.n_items)
        lr = np.array([cfg.learning_rate_user_bias, cfg.learning_rate_item_bias, 0.0, 0.0])
        reg = np.array([getattr(cfg, f"reg_{g}") for g in GROUPS])
        mu = self.global_mean_ if cfg.biased else 0.0
        order, indptr = _group(data.users, data.n_users)
        users, items, values = data.users[order], data.items[order], data.values[order]
        i_rows, i_indptr = _group(items, data.n_items)
        P, Q = padded(self.user_factors_), padded(self.item_factors_)
        nmf_fit(
            indptr,
            users,
            items,
            values,
            i_indptr,
            i_rows,
            mu,
            self.user_bias_,
            self.item_bias_,
            P,
            Q,
            lr,
            reg,
            cfg.biased,
            cfg.epochs,
        )
        self.user_factors_ = np.ascontiguousarray(P[:, :k])
        self.item_factors_ = np.ascontiguousarray(Q[:, :k])


def _group(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers sorted by key (stable), and the CSR-style pointer of each key's run."""
    rows = np.argsort(keys, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=indptr[1:])
    return rows, indptr

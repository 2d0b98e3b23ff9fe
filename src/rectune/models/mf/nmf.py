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
from rectune.data.sparse import csr_from_pairs
from rectune.models._shared import padded
from rectune.models.mf._factor import GROUPS, SGD_STRATEGIES, FactorModel
from rectune.models.mf._finetune import nmf_rows, sgd_epoch
from rectune.models.mf._kernels import nmf_fit
from rectune.training.config import TrainConfig
from rectune.training.epochs import report_epoch
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import Phase


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

    #: Multiplicative updates take no gradient step, so there is nothing to clip.
    supported_strategies = SGD_STRATEGIES - {"clip_norm"}
    #: Multiplicative updates keep zeros at zero: new rows start at the mean of known rows.
    partial_fit_init = "mean"
    partial_fit_settings = frozenset(
        {"epochs", "new_ids=zeros", "new_ids=neighbors", "new_ids=features", "new_ids=text"}
    )

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """Factors must stay non-negative (a multiplicative update keeps a negative entry
        negative): new rows mapped from text or features are clipped at 0."""
        for name, new in (("user_factors", new_users), ("item_factors", new_items)):
            if len(new):
                rows = getattr(self, name + "_")
                rows[new] = np.maximum(rows[new], 0.0)

    def honoured_settings(self, phase: Phase) -> frozenset[str]:
        """Only the biases (``biased``) take SGD steps, so only they have a learning rate."""
        out = super().honoured_settings(phase)
        return out if self.config.biased else out - {"learning_rate"}

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
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
        bu, bi = self.user_bias_, self.item_bias_

        def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            dot = np.einsum("ij,ij->i", P[u, :k], Q[i, :k])
            return mu + bu[u] + bi[i] + dot

        for epoch in range(cfg.epochs):  # no randomness: one call per epoch is the same model
            sse = nmf_fit(indptr, users, items, values, i_indptr, i_rows, mu, bu, bi, P, Q, lr,
                          reg, cfg.biased, 1)  # fmt: skip
            # Training RMSE of the estimates the epoch's update started from (the model after
            # the previous epoch; summed in the kernel's estimate pass: no extra pass).
            report_epoch(self._epoch_history, epoch, float(np.sqrt(sse / len(data))), score)
        self.user_factors_ = np.ascontiguousarray(P[:, :k])
        self.item_factors_ = np.ascontiguousarray(Q[:, :k])

    # ------------------------------------------------------------------ fine-tuning, updates
    def _rates(self) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        lr = np.array([cfg.learning_rate_user_bias, cfg.learning_rate_item_bias, 0.0, 0.0])
        return lr, np.array([getattr(cfg, f"reg_{g}") for g in GROUPS], dtype=np.float64)

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        d = ctx.data
        ctx.extra["by_user"] = csr_from_pairs(d.users, d.items, d.values, len(self.user_map_))
        ctx.extra["by_item"] = csr_from_pairs(d.items, d.users, d.values, len(self.item_map_))
        ctx.extra["rows"] = (np.unique(d.users), np.unique(d.items))

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """Multiplicative updates of the touched rows with L2-SP, then SGD bias steps.

        L2-SP enters the update as ``2 lam theta0`` in the numerator and ``2 lam theta`` in the
        denominator (its negative and positive gradient parts); the schedule damps the step to
        ``(1 - s) theta + s theta_MU``; frozen groups are skipped.
        """
        cfg, d, a = self.config, ctx.data, ctx.anchors
        _, reg = self._rates()
        mu = self._offset()
        users, items = ctx.extra["rows"]
        up, ui, uv = ctx.extra["by_user"]
        ip, ii, iv = ctx.extra["by_item"]
        P, Q, bu, bi = self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_
        if not ctx.is_frozen("user_factors"):
            nmf_rows(up, ui, uv, mu, bu, bi, P, Q, a["user_factors"], reg[2],
                     ctx.lam("user_factors"), lr_scale, users)  # fmt: skip
        if not ctx.is_frozen("item_factors"):
            nmf_rows(ip, ii, iv, mu, bi, bu, Q, P, a["item_factors"], reg[3],
                     ctx.lam("item_factors"), lr_scale, items)  # fmt: skip
        if cfg.biased:
            lr = np.array(
                [
                    ctx.train.learning_rate or cfg.learning_rate_user_bias,
                    ctx.train.learning_rate or cfg.learning_rate_item_bias,
                    0.0,
                    0.0,
                ]
            )
            lr *= lr_scale
            lr[0] = 0.0 if ctx.is_frozen("user_bias") else lr[0]
            lr[1] = 0.0 if ctx.is_frozen("item_bias") else lr[1]
            lam = np.array([ctx.lam(g) for g in GROUPS])
            sgd_epoch(d.users, d.items, d.values, ctx.rng.permutation(len(d)), mu, bu, bi, P, Q,
                      np.zeros((0, P.shape[1])), a["user_bias"], a["item_bias"], P, Q, lr, reg,
                      lam, 0.0, True, np.ones(len(bu), np.uint8),
                      np.ones(len(bi), np.uint8))  # fmt: skip

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """Fold-in by multiplicative updates of the touched rows over all their rows in ``seen_``.

        Biases (when ``biased``) first take SGD passes over the events; then touched users and
        items alternate ``FOLD_IN_ITERATIONS`` (or ``train.epochs``) multiplicative updates
        given the other side, new rows starting from the mean of the known rows.
        """
        cfg = self.config
        lr, reg = self._rates()
        mu = self._offset()
        P, Q, bu, bi = self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_
        if cfg.biased:
            for _ in range(2):
                sgd_epoch(local.users, local.items, local.values, np.arange(len(local)), mu, bu,
                          bi, P, Q, np.zeros((0, P.shape[1])), bu, bi, P, Q, lr, reg,
                          np.zeros(4), 0.0, True, np.ones(len(bu), np.uint8),
                          np.ones(len(bi), np.uint8))  # fmt: skip
        by_user, by_item = self.seen_, self.seen_.T.tocsr()
        users, items = np.unique(local.users), np.unique(local.items)
        for _ in range(FOLD_IN_ITERATIONS if train.epochs is None else train.epochs):
            nmf_rows(by_user.indptr, by_user.indices, by_user.data, mu, bu, bi, P, Q, P, reg[2],
                     0.0, 1.0, users)  # fmt: skip
            nmf_rows(by_item.indptr, by_item.indices, by_item.data, mu, bi, bu, Q, P, Q, reg[3],
                     0.0, 1.0, items)  # fmt: skip


#: `NMF.partial_fit`: multiplicative-update iterations of the touched rows.
FOLD_IN_ITERATIONS = 20


def _group(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers sorted by key (stable), and the CSR-style pointer of each key's run."""
    rows = np.argsort(keys, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=indptr[1:])
    return rows, indptr

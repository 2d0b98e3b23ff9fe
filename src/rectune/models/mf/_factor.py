"""`FactorModel`: scoring, fallback, fine-tuning and fold-in shared by SVD, SVD++ and NMF.

Predictions are ``mu + b_u + b_i + q_i . v_u``; fine-tuning runs SGD epochs honouring L2-SP
(proximal steps), frozen groups and clipping; `partial_fit` folds new rows in by closed-form
ridge and gives existing rows a few SGD passes over the new events.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from rectune.data.interactions import Interactions
from rectune.models._ranking import cosine_rows
from rectune.models.base import Recommender
from rectune.models.baselines import bias_fallback
from rectune.models.mf._finetune import ridge_rows, sgd_epoch
from rectune.training.config import TrainConfig
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import GRADIENT_STRATEGIES, ITEM_ROW_STARTS

#: Parameter groups in kernel order (learning rates and penalties are passed in this order).
GROUPS = ("user_bias", "item_bias", "user_factors", "item_factors")

#: Fine-tuning settings the SGD factor models honour (see `FactorModel`).
SGD_STRATEGIES = GRADIENT_STRATEGIES

#: `partial_fit`: ridge added to every component of a folded-in row (beyond ``n * reg``), so
#: users and items with a handful of ratings are shrunk toward zero instead of over-fitted.
FOLD_IN_REG = 1.0

#: `partial_fit`: SGD passes over the new events for rows that existed before (TrainConfig.epochs
#: overrides).
PARTIAL_FIT_EPOCHS = 2


class FactorModel(Recommender):
    """Shared scoring of ``mu + b_u + b_i + q_i . v_u`` models (v_u: `_user_vectors`).

    Unknown ids follow Surprise: a biased model adds whichever biases are known and the factor
    term only when both ids are known; an unbiased model falls back to the global mean.
    """

    state_names: ClassVar[tuple[str, ...]] = GROUPS
    param_groups: ClassVar[tuple[str, ...]] = GROUPS

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    user_bias_: np.ndarray
    item_bias_: np.ndarray

    @property
    def _biased(self) -> bool:
        return bool(getattr(self.config, "biased", True))

    def _user_vectors(self) -> np.ndarray:
        """The user rows multiplied with q_i (p_u here; SVD++ adds its implicit term)."""
        return self.user_factors_

    def _offset(self) -> float:
        return self.global_mean_ if self._biased else 0.0

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        vu = self._user_vectors()[users]
        dot = np.einsum("ij,ij->i", vu, self.item_factors_[items]).astype(np.float64)
        return dot + (self._offset() + self.user_bias_[users] + self.item_bias_[items])

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        scores = (self._user_vectors()[users] @ self.item_factors_.T).astype(np.float64)
        scores += self.user_bias_[users, None]
        scores += self.item_bias_[None, :]
        scores += self._offset()
        return scores

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the item factors q_i."""
        return cosine_rows(self.item_factors_, items)

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if not self._biased:
            return np.full(len(users), self.global_mean_)
        return bias_fallback(self.global_mean_, self.user_bias_, self.item_bias_, users, items)

    def _init_params(self, data: Interactions, seed: int, mean: float, std: float) -> None:
        """Normal(mean, std) float32 factors and zero biases for the model's compact maps."""
        rng = np.random.default_rng(seed)
        k = self.config.embedding_size  # type: ignore[attr-defined]
        shape_u, shape_i = (data.n_users, k), (data.n_items, k)
        self.user_factors_ = rng.standard_normal(shape_u, dtype=np.float32) * np.float32(std)
        self.item_factors_ = rng.standard_normal(shape_i, dtype=np.float32) * np.float32(std)
        self.user_factors_ += np.float32(mean)
        self.item_factors_ += np.float32(mean)
        self.user_bias_ = np.zeros(data.n_users, dtype=np.float32)
        self.item_bias_ = np.zeros(data.n_items, dtype=np.float32)

    # ------------------------------------------------------------------ fine-tuning, updates
    supported_strategies = SGD_STRATEGIES
    partial_fit_init = "zeros"
    #: New rows are folded in by closed form (any start is replaced); then SGD passes.
    partial_fit_settings = frozenset({"learning_rate", "epochs"})
    #: Rows of items added without interactions keep their start (nothing folds them in).
    add_items_settings = ITEM_ROW_STARTS

    def _rates(self) -> tuple[np.ndarray, np.ndarray]:
        """float64 step sizes and penalties of the parameter groups, in kernel order."""
        lr, reg = self.config.group_rates(self.param_groups)  # type: ignore[attr-defined]
        return lr.astype(np.float64), reg.astype(np.float64)

    def _run_rates(self, ctx: FinetuneContext, lr_scale: float) -> np.ndarray:
        """This epoch's step sizes: the run's rate (or each group's own) x schedule; 0 = frozen."""
        lr, _ = self._rates()
        if ctx.train.learning_rate is not None:
            lr[:] = ctx.train.learning_rate
        lr *= lr_scale
        for g, name in enumerate(self.param_groups):
            if ctx.is_frozen(name):
                lr[g] = 0.0
        return lr

    def _user_offsets(self) -> np.ndarray:
        """Per-user term added to p_u (SVD++'s implicit sum); 0 rows when there is none."""
        return np.zeros((0, self.user_factors_.shape[1]), dtype=self.user_factors_.dtype)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One SGD epoch over ``ctx.data`` (shuffled) with L2-SP, clipping and frozen groups.

        What does not change between epochs (penalties, lambdas, the run's step sizes before
        the schedule, the all-rows masks) is built in the first epoch and kept in ``ctx.extra``.
        """
        d = ctx.data
        run = ctx.extra.get("sgd")
        if run is None:
            n_u, n_i = len(self.user_map_), len(self.item_map_)
            run = ctx.extra["sgd"] = {
                "reg": self._rates()[1],
                "lam": np.array([ctx.lam(g) for g in GROUPS]),
                "lr": self._run_rates(ctx, 1.0),
                "upd": (np.ones(n_u, dtype=np.uint8), np.ones(n_i, dtype=np.uint8)),
            }
        reg, lam, upd = run["reg"], run["lam"], run["upd"]
        a = ctx.anchors
        sgd_epoch(
            d.users,
            d.items,
            d.values,
            ctx.rng.permutation(len(d)),
            self._offset(),
            self.user_bias_,
            self.item_bias_,
            self.user_factors_,
            self.item_factors_,
            self._user_offsets(),
            a["user_bias"],
            a["item_bias"],
            a["user_factors"],
            a["item_factors"],
            run["lr"] * lr_scale,
            reg,
            lam,
            ctx.strategy.clip_norm or 0.0,
            self._biased,
            *upd,
        )

    def _fold_in(self, new_users: np.ndarray, new_items: np.ndarray) -> None:
        """Closed-form ridge rows of new items (given users), then new users (given items)."""
        _, reg = self._rates()
        seen, mu, biased = self.seen_, self._offset(), self._biased
        if len(new_items):
            by_item = seen.T.tocsr()
            vu = self.user_factors_ + implicit_offsets(self)
            empty = np.zeros((0, vu.shape[1]), dtype=vu.dtype)
            ridge_rows(by_item.indptr, by_item.indices, by_item.data, mu, self.item_bias_,
                       self.item_factors_, self.user_bias_, vu, empty, reg[1], reg[3],
                       FOLD_IN_REG, biased, new_items)  # fmt: skip
        if len(new_users):
            ridge_rows(seen.indptr, seen.indices, seen.data, mu, self.user_bias_,
                       self.user_factors_, self.item_bias_, self.item_factors_,
                       self._user_offsets(), reg[0], reg[2], FOLD_IN_REG, biased,
                       new_users)  # fmt: skip

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """Fold in new rows in closed form, then SGD passes over the events for the old rows.

        New users and items get the ridge least-squares (bias, factors) over all their rows in
        ``seen_`` given the other side (as ALS / implicit's ``partial_fit_users``); users and
        items that existed before get `PARTIAL_FIT_EPOCHS` (or ``train.epochs``) SGD passes over
        the new events in their order, at the model's (or ``train``'s) learning rate.
        """
        self._fold_in(new_users, new_items)
        lr, reg = self._rates()
        if train.learning_rate is not None:
            lr[:] = train.learning_rate
        lr = lr[:4]
        upd_u = np.ones(len(self.user_map_), dtype=np.uint8)
        upd_i = np.ones(len(self.item_map_), dtype=np.uint8)
        upd_u[new_users] = 0
        upd_i[new_items] = 0
        z = self._user_offsets()
        P, Q, bu, bi = self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_
        order = np.arange(len(local))
        for _ in range(PARTIAL_FIT_EPOCHS if train.epochs is None else train.epochs):
            sgd_epoch(local.users, local.items, local.values, order, self._offset(), bu, bi, P, Q,
                      z, bu, bi, P, Q, lr, reg[:4], np.zeros(4), 0.0, self._biased, upd_u,
                      upd_i)  # fmt: skip


def implicit_offsets(model: FactorModel) -> np.ndarray:
    """``model._user_offsets()`` as a full (n_users, k) array (zeros for plain SVD)."""
    z = model._user_offsets()
    return z if z.shape[0] else np.zeros_like(model.user_factors_)

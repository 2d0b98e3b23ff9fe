"""`SVDpp`: SVD++, biased matrix factorisation with implicit feedback.

Koren (2008), "Factorization meets the neighborhood: a multifaceted collaborative filtering
model", KDD, eq. 15: ``r_ui ~ mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)``
where N(u) is the set of items the user rated in training. Defaults follow Surprise's ``SVDpp``.

Training visits users in a shuffled order and each user's ratings in turn; the implicit sum is
computed once per user and the y_j steps are applied once per user, in a form that equals the
per-rating updates of the paper exactly (see `rectune.models.mf._kernels.svdpp_sgd`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from rectune.data.interactions import Interactions
from rectune.models._shared import padded
from rectune.models.mf._factor import GROUPS, FactorModel
from rectune.models.mf._finetune import grouped, svdpp_epoch
from rectune.models.mf._kernels import svdpp_sgd
from rectune.models.mf.svd import SVDConfig
from rectune.training.config import TrainConfig
from rectune.training.epochs import report_epoch
from rectune.training.hooks import FinetuneContext

#: Parameter groups in kernel order; y_j is ``implicit_factors``.
PP_GROUPS = (*GROUPS, "implicit_factors")


class SVDppConfig(SVDConfig):
    """Hyperparameters of `SVDpp` (defaults match Surprise's ``SVDpp``)."""

    embedding_size: int = Field(20, ge=1)
    """Number of latent factors (Surprise: ``n_factors``)."""
    learning_rate: float = Field(0.007, gt=0)
    """SGD step size of every group without its own."""
    learning_rate_implicit_factors: float | None = Field(None, gt=0)
    """Step size of the implicit factors y_j (Surprise: ``lr_yj``)."""
    reg_implicit_factors: float | None = Field(None, ge=0)
    """Penalty of the implicit factors y_j (Surprise: ``reg_yj``)."""


class SVDpp(FactorModel):
    """SVD++ by SGD (Koren 2008; Surprise's ``SVDpp``).

    Estimates ``r_ui = mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_j y_j)``. The user vector
    in parentheses is cached after fitting (and rebuilt after loading), so predictions and
    full-catalogue scores cost as much as plain SVD.

    Parameters
    ----------
    config
        An `SVDppConfig`, or its fields as keyword arguments.

    Examples
    --------
    >>> from rectune import Interactions
    >>> data = Interactions.from_raw([1, 1, 2, 2, 3], ["a", "b", "a", "b", "a"], [5, 1, 4, 2, 5])
    >>> model = SVDpp(embedding_size=4, epochs=200, learning_rate=0.05).fit(data)
    >>> bool(model.predict([3], ["b"])[0] < model.predict([3], ["a"])[0])
    True
    """

    name = "svdpp"
    config_class = SVDppConfig
    config: SVDppConfig
    state_names = PP_GROUPS
    param_groups = PP_GROUPS

    implicit_factors_: np.ndarray
    user_vectors_: np.ndarray

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        cfg = self.config
        self._init_params(data, train.seed, cfg.init_mean, cfg.init_std)
        rng = np.random.default_rng([train.seed, 1])
        shape = self.item_factors_.shape
        self.implicit_factors_ = rng.standard_normal(shape, dtype=np.float32) * np.float32(
            cfg.init_std
        ) + np.float32(cfg.init_mean)
        # Ratings grouped by user (stable: each user's ratings keep their data order).
        order = np.argsort(data.users, kind="stable")
        indptr = np.zeros(data.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(data.users, minlength=data.n_users), out=indptr[1:])
        items = data.items[order]
        values = data.values[order].astype(np.float32)
        lr, reg = cfg.group_rates(PP_GROUPS)
        mu = np.float32(self.global_mean_ if cfg.biased else 0.0)
        seen = self.seen_
        P, Q = padded(self.user_factors_), padded(self.item_factors_)
        Y = padded(self.implicit_factors_)
        k = cfg.embedding_size
        bu, bi = self.user_bias_, self.item_bias_
        user_order = np.arange(data.n_users)  # reshuffled in place every epoch
        vectors: list[np.ndarray] = []  # p_u + |N(u)|^-1/2 sum y_j of this epoch, on demand

        def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            if not vectors:  # only an observer scores: a plain fit never pays for this
                vectors.append(P[:, :k] + implicit_sums(seen, Y[:, :k]))
            dot = np.einsum("ij,ij->i", vectors[0][u], Q[i, :k], dtype=np.float64)
            return mu + bu[u] + bi[i] + dot

        for epoch in range(cfg.epochs):  # one call per epoch: the same model as one call
            sse = svdpp_sgd(indptr, items, values, seen.indptr, seen.indices, mu, bu, bi, P, Q,
                            Y, lr, reg, cfg.biased, epoch, epoch + 1, cfg.learning_rate_decay,
                            train.seed, user_order)  # fmt: skip
            vectors.clear()
            # Training RMSE of the epoch's ratings, each error taken just before its SGD step
            # (summed in the kernel: no extra pass).
            report_epoch(self._epoch_history, epoch, float(np.sqrt(sse / len(data))), score)
        self.user_factors_ = np.ascontiguousarray(P[:, :k])
        self.item_factors_ = np.ascontiguousarray(Q[:, :k])
        self.implicit_factors_ = np.ascontiguousarray(Y[:, :k])
        self._after_load()

    def _after_load(self) -> None:
        self.user_vectors_ = self.user_factors_ + implicit_sums(self.seen_, self.implicit_factors_)

    def _user_offsets(self) -> np.ndarray:
        return implicit_sums(self.seen_, self.implicit_factors_)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One SVD++ SGD epoch over ``ctx.data``: users in random order, their rows shuffled.

        N(u) is the user's rows in ``seen_`` (parent data plus the new rows); y_j steps are
        taken once per user (see `rectune.models.mf._finetune.svdpp_epoch`).
        """
        d, seen, a = ctx.data, self.seen_, ctx.anchors
        user_rank = ctx.rng.permutation(len(self.user_map_))
        gptr, gusers, rows = grouped(d.users, ctx.rng.permutation(len(d)), user_rank)
        _, reg = self._rates()
        svdpp_epoch(
            gptr,
            gusers,
            d.items[rows],
            d.values[rows],
            seen.indptr,
            seen.indices,
            self._offset(),
            self.user_bias_,
            self.item_bias_,
            self.user_factors_,
            self.item_factors_,
            self.implicit_factors_,
            a["user_bias"],
            a["item_bias"],
            a["user_factors"],
            a["item_factors"],
            a["implicit_factors"],
            self._run_rates(ctx, lr_scale),
            reg,
            np.array([ctx.lam(g) for g in PP_GROUPS]),
            ctx.strategy.clip_norm or 0.0,
            self._biased,
            np.ones(len(self.user_map_), dtype=np.uint8),
            np.ones(len(self.item_map_), dtype=np.uint8),
        )
        self._after_load()  # early stopping scores the model between epochs

    def _user_vectors(self) -> np.ndarray:
        return self.user_vectors_


def implicit_sums(seen: sp.csr_matrix, implicit_factors: np.ndarray) -> np.ndarray:
    """``|N(u)|^-1/2 sum_{j in N(u)} y_j`` for every user row of the ``seen`` matrix."""
    counts = np.diff(seen.indptr)
    scale = np.zeros(len(counts), dtype=np.float32)
    has = counts > 0
    scale[has] = 1.0 / np.sqrt(counts[has])
    norm = sp.csr_matrix(
        (np.repeat(scale, counts), seen.indices, seen.indptr), shape=seen.shape, dtype=np.float32
    )
    return np.asarray(norm @ implicit_factors, dtype=np.float32)

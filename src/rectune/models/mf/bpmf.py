"""`BPMF`: Bayesian matrix factorisation with biases, fitted by Gibbs sampling (MCMC).

Salakhutdinov & Mnih (2008), "Bayesian probabilistic matrix factorization using Markov chain
Monte Carlo", with user and item biases and per-dimension Normal-Gamma hyperpriors as in
Rendle's libFM MCMC (Rendle 2012, "Factorization machines with libFM"). Averaging predictions
over posterior samples instead of using one point estimate removes the need to tune
regularisation and gives the lowest RMSE of the single rating models here.

``implicit`` adds the implicit-feedback sums of SVD++ (Koren 2008) to the user rows and, in its
"flipped" form, to the item rows, each factor drawn by coordinate-wise Gibbs sampling as in
libFM's MCMC: Bayesian SVD++ of Rendle, Zhang & Koren (2019), "On the difficulty of evaluating
baselines".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models._ranking import cosine_rows
from rectune.models.base import Recommender
from rectune.models.mf._bpmf_kernels import (
    csr_residuals,
    gibbs_rows,
    gibbs_some_rows,
    implicit_sweep,
    pair_scores,
)
from rectune.training.config import TrainConfig
from rectune.training.epochs import report_epoch
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import ITEM_ROW_STARTS


class BPMFConfig(ConfigBase):
    """Hyperparameters of `BPMF`."""

    embedding_size: int = Field(10, ge=1, le=512)
    """Latent dimensions (besides the bias)."""
    iterations: int = Field(200, ge=2)
    """Gibbs sweeps in all, burn-in included."""
    burn_in: int = Field(40, ge=0)
    """Sweeps discarded before samples are kept."""
    keep: int = Field(40, ge=1)
    """Posterior samples kept (evenly thinned) to average predictions over."""
    init_std: float = Field(0.1, gt=0)
    """Standard deviation of the initial factors."""
    prior_shape: float = Field(1.0, gt=0)
    """Gamma hyperprior shape of every precision."""
    prior_rate: float = Field(1.0, gt=0)
    """Gamma hyperprior rate of every precision."""
    implicit: Literal["none", "user", "both"] = "none"
    """Implicit-feedback terms: ``user`` adds ``|N(u)|^-1/2 sum_j y_j`` over the items j the
    user rated to each user row (Bayesian SVD++); ``both`` also adds ``|N(i)|^-1/2 sum_v z_v``
    over the users who rated item i to each item row (the "flipped" variant). ``y`` and ``z``
    have their own hyperpriors; a sample stores the summed rows, so scoring costs the same."""


class BPMF(Recommender):
    """Bayesian biased matrix factorisation by Gibbs sampling.

    Incremental updates re-draw, in every kept sample, the rows the new events touch from their
    conditional posterior given that sample's other side (new rows start at the sample mean):
    `partial_fit` one such sweep, `finetune` one per epoch. Parameter groups are posterior
    samples, not point estimates, so L2-SP, freezing, clipping and schedules do not apply
    (asking for them is a clear error); early stopping does. With ``implicit`` terms a sample
    keeps only the summed rows, so updates re-draw a touched row as a whole (its implicit part
    is not re-expanded over the new events); a fresh `fit` is the exact posterior.

    Examples
    --------
    >>> from rectune.testing import low_rank
    >>> data = low_rank()
    >>> model = BPMF(embedding_size=3, iterations=30, burn_in=10, keep=5).fit(data)
    >>> model.user_samples_.shape[0]
    5
    """

    name = "bpmf"
    config_class = BPMFConfig
    config: BPMFConfig
    state_names = ("user_samples", "item_samples")
    param_groups = ()

    user_samples_: np.ndarray
    item_samples_: np.ndarray

    #: Gibbs sweeps (``epochs``) have no step size; samples are not parameter groups.
    supported_strategies = frozenset({"early_stopping", "epochs", "new_ids=zeros"})
    partial_fit_settings = frozenset({"new_ids=zeros"})
    partial_fit_init = "mean"
    #: Every kept sample gets the new item's row (one ridge map over all samples for text or
    #: features); `partial_fit` re-draws rows given their events, so there any start is lost.
    add_items_settings = ITEM_ROW_STARTS

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        cfg = self.config
        if cfg.burn_in >= cfg.iterations:
            raise ConfigError("burn_in must be smaller than iterations")
        rng = np.random.default_rng(train.seed)
        d = cfg.embedding_size + 1
        mu = self.global_mean_
        by_user = data.to_csr()
        by_item = by_user.T.tocsr()
        # Rows of a sample are free part + implicit sum; the Gibbs block draws the summed row
        # with the prior mean shifted by the sum, then the free part is the difference.
        users_p = rng.normal(0, cfg.init_std, (data.n_users, d))
        items_p = rng.normal(0, cfg.init_std, (data.n_items, d))
        users_p[:, 0] = 0.0
        items_p[:, 0] = 0.0
        sides = [_Side(by_user, users_p), _Side(by_item, items_p)]
        if cfg.implicit != "none":  # y: one factor per item, summed into its raters' rows
            sides[0].add_implicit(rng.normal(0, cfg.init_std, (data.n_items, d)))
        if cfg.implicit == "both":  # z: one factor per user, summed into its items' rows
            sides[1].add_implicit(rng.normal(0, cfg.init_std, (data.n_users, d)))
        alpha = 1.0
        kept_at = set(
            np.linspace(
                cfg.burn_in, cfg.iterations - 1, min(cfg.keep, cfg.iterations - cfg.burn_in)
            )
            .round()
            .astype(int)
            .tolist()
        )
        us: list[np.ndarray] = []
        its: list[np.ndarray] = []
        stacked: list[tuple[np.ndarray, np.ndarray]] = []  # this sweep's kept samples, on demand

        def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            """The model as it is: the mean over the samples kept so far (burn-in: this one)."""
            u, i = u.astype(np.int64), i.astype(np.int64)
            if not us:
                dot = np.einsum("ij,ij->i", users_p[u, 1:], items_p[i, 1:])
                return mu + users_p[u, 0] + items_p[i, 0] + dot
            if not stacked:  # only an observer scores: a plain fit never pays for this
                stacked.append((np.stack(us), np.stack(its)))
            return pair_scores(u, i, mu, *stacked[0])

        for it in range(cfg.iterations):
            for own, other in ((sides[0], sides[1]), (sides[1], sides[0])):
                mean, prec = self._hyper(own.free, rng)
                z = rng.standard_normal(own.rows.shape)
                m = own.mat
                gibbs_rows(m.indptr, m.indices, m.data, mu, other.rows, mean + own.agg, prec,
                           alpha, z, own.rows)  # fmt: skip
                own.free = own.rows - own.agg
            for own, other in ((sides[0], sides[1]), (sides[1], sides[0])):
                if own.fac is not None:
                    mean, prec = self._hyper(own.fac, rng)
                    z = rng.standard_normal(own.fac.shape)
                    m, t = own.mat, other.mat
                    resid = csr_residuals(m.indptr, m.indices, m.data, mu, own.rows, other.rows)
                    implicit_sweep(m.indptr, m.indices, resid, other.rows, own.rows, own.agg,
                                   own.scale, own.fac, t.indptr, t.indices, mean, prec, alpha,
                                   z)  # fmt: skip
                    own.free = own.rows - own.agg
            users_p, items_p = sides[0].rows, sides[1].rows
            err = data.values - mu - users_p[data.users, 0] - items_p[data.items, 0]
            err -= np.einsum("ij,ij->i", users_p[data.users, 1:], items_p[data.items, 1:])
            alpha = rng.gamma(
                cfg.prior_shape + len(err) / 2, 1 / (cfg.prior_rate + 0.5 * err @ err)
            )
            if it in kept_at:
                us.append(users_p.astype(np.float32))
                its.append(items_p.astype(np.float32))
                stacked.clear()
            # Training RMSE of this sweep's sample (its residuals, which the noise draw above
            # needs anyway); the scorer is the posterior mean over the samples kept so far.
            report_epoch(self._epoch_history, it, float(np.sqrt(err @ err / len(err))), score)
        self.user_samples_ = np.stack(us)
        self.item_samples_ = np.stack(its)

    def _hyper(self, theta: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw per-dimension prior mean and precision from their Normal-Gamma posterior."""
        cfg = self.config
        n = theta.shape[0]
        mean_hat = theta.sum(0) / (n + 1.0)
        sq = ((theta - mean_hat) ** 2).sum(0) + mean_hat**2
        prec = rng.gamma(cfg.prior_shape + (n + 1) / 2, 1 / (cfg.prior_rate + 0.5 * sq))
        mean = rng.normal(mean_hat, 1 / np.sqrt((n + 1.0) * prec))
        return mean, prec

    # ------------------------------------------------------------------ fine-tuning, updates
    def row_axes(self) -> dict[str, tuple[str, ...]]:
        return {}  # samples are (sample, entity, dim): `_grow` handles them

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """New rows in every sample: zeros, the sample's mean row (the default), or (items
        added by `add_items`) a map from text or features fitted on all samples at once."""
        method = init.method
        for name, n_new in (("user_samples", len(new_users)), ("item_samples", len(new_items))):
            arr = getattr(self, name + "_")
            if not n_new:
                continue
            if method == "zeros" or arr.shape[1] == 0:
                rows = np.zeros((arr.shape[0], n_new, arr.shape[2]), dtype=arr.dtype)
            elif method in ("text", "features") and name == "item_samples":
                by_item = arr.transpose(1, 0, 2)  # (item, sample, dim): one ridge, all samples
                rows = init.rows(by_item, "item").transpose(1, 0, 2)
            else:
                rows = np.repeat(arr.mean(axis=1, keepdims=True), n_new, axis=1)
            setattr(self, name + "_", np.concatenate([arr, rows.astype(arr.dtype)], axis=1))

    def _default_finetune_epochs(self) -> int:
        return 3

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One Gibbs sweep, per kept sample, over the rows ``ctx.data`` touches."""
        self._refresh(np.unique(ctx.data.users), np.unique(ctx.data.items), ctx.rng)

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """Re-draw touched rows (new ones included) per sample given all their rows."""
        rng = np.random.default_rng([train.seed, 11, len(self.user_map_), len(self.item_map_)])
        self._refresh(np.unique(local.users), np.unique(local.items), rng)

    def _refresh(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> None:
        """Per sample: draw the hyperparameters and noise precision given the sample, then the
        listed item rows given the users and the listed user rows given the items."""
        cfg = self.config
        by_user = self.seen_
        by_item = by_user.T.tocsr()
        coo = by_user.tocoo()
        mu = self.global_mean_
        us, its = self.user_samples_.astype(np.float64), self.item_samples_.astype(np.float64)
        for s in range(us.shape[0]):
            U, V = us[s], its[s]
            err = coo.data - mu - U[coo.row, 0] - V[coo.col, 0]
            err -= np.einsum("ij,ij->i", U[coo.row, 1:], V[coo.col, 1:])
            alpha = rng.gamma(
                cfg.prior_shape + len(err) / 2, 1 / (cfg.prior_rate + 0.5 * err @ err)
            )
            for mat, own, other, rows in ((by_item, V, U, items), (by_user, U, V, users)):
                mean, prec = self._hyper(own, rng)
                z = rng.standard_normal((len(rows), own.shape[1]))
                gibbs_some_rows(mat.indptr, mat.indices, mat.data, mu, other, mean, prec, alpha,
                                z, own, rows.astype(np.int64))  # fmt: skip
        self.user_samples_ = us.astype(np.float32)
        self.item_samples_ = its.astype(np.float32)

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return pair_scores(
            users.astype(np.int64),
            items.astype(np.int64),
            self.global_mean_,
            self.user_samples_,
            self.item_samples_,
        )

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        s = self.user_samples_.shape[0]
        pu = self.user_samples_[:, users, :]
        qi = self.item_samples_
        out = self.global_mean_ + pu[:, :, 0].mean(0)[:, None] + qi[:, :, 0].mean(0)[None, :]
        out = out + np.einsum("sud,sid->ui", pu[:, :, 1:], qi[:, :, 1:], optimize=True) / s
        return out

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the posterior-mean item factors (biases left out)."""
        return cosine_rows(self.item_samples_[:, :, 1:].mean(axis=0), items)

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = np.full(len(users), self.global_mean_)
        ku, ki = users >= 0, items >= 0
        out[ku] += self.user_samples_[:, users[ku], 0].mean(0)
        out[ki] += self.item_samples_[:, items[ki], 0].mean(0)
        return out


class _Side:
    """One side (users or items) of a Gibbs sweep: its rows, and its implicit-feedback part."""

    def __init__(self, mat: sp.csr_matrix, rows: np.ndarray) -> None:
        self.mat = mat  # this side's entities x partners, the ratings
        self.rows = rows  # summed rows (what predictions use), updated in place by the kernels
        self.free = rows.copy()  # rows minus the implicit sums
        self.agg = np.zeros_like(rows)  # |N(e)|^-1/2 sum of the partners' implicit factors
        self.fac: np.ndarray | None = None  # implicit factors, one per partner
        self.scale = np.zeros(rows.shape[0])

    def add_implicit(self, fac: np.ndarray) -> None:
        """Start the implicit factors at ``fac`` and fold their sums into the rows."""
        count = np.diff(self.mat.indptr)
        self.scale = np.where(count > 0, 1 / np.sqrt(np.maximum(count, 1)), 0.0)
        fac[:, 0] = 0.0
        self.fac = fac
        binary = sp.csr_matrix(
            (np.ones(self.mat.nnz), self.mat.indices, self.mat.indptr), shape=self.mat.shape
        )
        self.agg = self.scale[:, None] * (binary @ fac)
        self.rows = self.free + self.agg

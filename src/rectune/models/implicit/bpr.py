"""`BPR`: Bayesian personalised ranking by stochastic gradient descent.

Rendle, Freudenthaler, Gantner and Schmidt-Thieme (2009), "BPR: Bayesian personalized ranking
from implicit feedback", UAI: maximise ``sum ln sigmoid(x_ui - x_uj) - reg |theta|^2`` over
triples of a user, an item they interacted with and a sampled item they did not, with
``x_ui = p_u . q_i + b_i`` (item biases as in implicit's ``BayesianPersonalizedRanking``).

Users are cut into blocks of balanced size; every epoch each block's rows are visited in a
fresh shuffle, each with one negative drawn from the whole catalogue (``negatives="uniform"``,
a liked draw redrawn up to 8 times) or, as implicit does, from the items of all interactions
(``"popularity"``: one draw, the row skipped when the user liked it). Small
problems (or ``threads=1``) train on one thread and are bit-reproducible for a seed; larger ones
run the user blocks on parallel threads, lock-free on item rows (Hogwild, Recht et al. 2011) as
implicit does, with one barrier per epoch.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models._ranking import cosine_rows
from rectune.models._shared import blocks, numba_threads, padded, resolve_threads
from rectune.models.base import Recommender
from rectune.models.implicit._bpr_kernels import (
    bpr_epochs,
    bpr_epochs_parallel,
    bpr_finetune_epoch,
)
from rectune.training.config import TrainConfig
from rectune.training.epochs import report_epoch
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import ITEM_ROW_STARTS

logger = logging.getLogger(__name__)

#: User blocks (the unit of work of a thread); fixed, so that a seed means the same sampling on
#: any machine.
N_BLOCKS = 8

#: Interactions x factors x epochs below which training stays on one thread (bit-reproducible;
#: the parallel kernel is lock-free on item rows).
PARALLEL_MIN_WORK = 200_000_000


class BPRConfig(ConfigBase):
    """Hyperparameters of `BPR` (defaults match implicit's ``BayesianPersonalizedRanking``
    except ``negatives``: implicit's sampler is ``"popularity"``)."""

    embedding_size: int = Field(100, ge=1)
    """Number of latent factors (implicit: ``factors``)."""
    learning_rate: float = Field(0.01, gt=0)
    """SGD step size."""
    reg: float = Field(0.01, ge=0)
    """L2 penalty of factors and biases (implicit: ``regularization``)."""
    epochs: int = Field(100, ge=1)
    """Passes over the interactions, one sampled negative per positive (``iterations``)."""
    negatives: Literal["uniform", "popularity"] = "uniform"
    """How negatives are drawn. ``uniform``: over all items, a liked draw redrawn (up to 8
    draws). ``popularity``: implicit 0.7.3's sampler, the item of a random interaction, and a
    triple whose negative the user liked is skipped (``verify_negative_samples``). Means of
    seeds 0-4 vs implicit (NDCG@10, benchmarks/RESULTS.md): uniform is higher on ML-100K,
    popularity on ml-latest-small."""
    update_epochs: int = Field(5, ge=1)
    """`partial_fit`: SGD passes over the new events."""
    deterministic: bool = True
    """Train on one thread, bit-reproducible for a seed whatever the thread count. False runs
    the user blocks on parallel threads, lock-free on item rows (Hogwild, as implicit does):
    faster on many idle cores, but item updates race, so two runs with the same seed differ
    (NDCG@10 on ML-100K moved in the third decimal). On 2 shared cores the parallel kernel was
    no faster (ML-100K fit: 1.2-1.35 s on one thread, 1.6-3.2 s on two)."""


class BPR(Recommender):
    """Matrix factorisation with item biases trained for pairwise ranking (Rendle et al. 2009).

    Parameters
    ----------
    config
        A `BPRConfig`, or its fields as keyword arguments.

    Examples
    --------
    >>> from rectune import Interactions
    >>> users = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8]
    >>> items = ["a", "b", "a", "b", "a", "b", "c", "d", "c", "d", "c", "d", "a", "c"]
    >>> data = Interactions.from_raw(users, items, kind="weight")
    >>> model = BPR(embedding_size=4, epochs=300, learning_rate=0.05).fit(data)
    >>> model.recommend([7, 8], n=1)[0].tolist()
    [['b'], ['d']]
    """

    name = "bpr"
    config_class = BPRConfig
    config: BPRConfig
    state_names = ("user_factors", "item_factors", "item_bias")
    param_groups = ("user_factors", "item_factors", "item_bias")
    predicts_ratings = False
    supported_strategies = frozenset(
        {
            "l2sp",
            "freeze",
            "clip_norm",
            "replay",
            "schedule",
            "augment=negatives",
            "augment=popular-negatives",
            "new_ids=features",
            "new_ids=neighbors",
            "new_ids=text",
            "new_ids=zeros",
            "learning_rate",
            "epochs",
        }
    )
    partial_fit_init = "mean"
    partial_fit_settings = frozenset(
        {
            "learning_rate",
            "epochs",
            "new_ids=zeros",
            "new_ids=neighbors",
            "new_ids=features",
            "new_ids=text",
        }
    )
    add_items_settings = ITEM_ROW_STARTS

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    item_bias_: np.ndarray

    def _fit(self, data: Interactions, train: TrainConfig) -> None:

        cfg = self.config
        rng = np.random.default_rng(train.seed)
        k = cfg.embedding_size
        shape_u, shape_i = (data.n_users, k), (data.n_items, k)
        P = padded((rng.random(shape_u, dtype=np.float32) - np.float32(0.5)) / np.float32(k))
        Q = padded((rng.random(shape_i, dtype=np.float32) - np.float32(0.5)) / np.float32(k))
        bi = np.zeros(data.n_items, dtype=np.float32)
        seen = self._sorted_seen()
        users, items = seen.nonzero()
        users, items = users.astype(np.int32), items.astype(np.int32)
        user_block = blocks(np.bincount(users, minlength=data.n_users), N_BLOCKS)[users]
        order = np.argsort(user_block, kind="stable")
        users, items = users[order], items[order]
        offsets = np.searchsorted(user_block[order], np.arange(N_BLOCKS + 1)).astype(np.int64)
        uniform = cfg.negatives == "uniform"
        # A copy: ``items`` is reshuffled in place every epoch, the popularity pool stays fixed.
        pool = np.arange(data.n_items, dtype=np.int32) if uniform else items.copy()
        tries = 8 if uniform else 1
        threads = resolve_threads(train.threads)
        work = len(users) * k * cfg.epochs
        parallel = not cfg.deterministic and threads > 1 and work >= PARALLEL_MIN_WORK
        kernel = bpr_epochs_parallel if parallel else bpr_epochs
        stats = np.zeros(3)  # the epoch's summed BPR loss, triples, triples ranked right

        def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            dot = np.einsum("ij,ij->i", P[u, :k], Q[i, :k], dtype=np.float64)
            return dot + bi[i]

        with numba_threads(threads):
            for epoch in range(cfg.epochs):  # one call per epoch: the same model as one call
                kernel(users, items, offsets, pool, tries, seen.indptr, seen.indices, P, Q, bi,
                       np.float32(cfg.learning_rate), np.float32(cfg.reg), epoch, epoch + 1,
                       train.seed, stats)  # fmt: skip
                # The mean BPR loss -ln sigmoid(x_uij) of the epoch's triples, each taken just
                # before its step (accumulated in the kernel: no extra pass).
                report_epoch(self._epoch_history, epoch, stats[0] / max(stats[1], 1.0), score)
        acc = stats[2] / max(len(users), 1)
        logger.debug("BPR: %.3f of the last epoch's triples ranked correctly", acc)
        self.user_factors_ = np.ascontiguousarray(P[:, :k])
        self.item_factors_ = np.ascontiguousarray(Q[:, :k])
        self.item_bias_ = bi

    def _sorted_seen(self) -> sp.csr_matrix:
        seen = self.seen_.copy()
        seen.sort_indices()
        return seen

    # ------------------------------------------------------------------ scoring
    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        dot = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        return dot.astype(np.float64) + self.item_bias_[items]

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        scores = (self.user_factors_[users] @ self.item_factors_.T).astype(np.float64)
        scores += self.item_bias_[None, :]
        return scores

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the item factors (biases left out)."""
        return cosine_rows(self.item_factors_, items)

    # ------------------------------------------------------------------ updates
    def _sgd(
        self,
        rows: Interactions,
        order: np.ndarray,
        lr: tuple[float, float, float],
        lam: tuple[float, float, float],
        anchors: tuple[np.ndarray, np.ndarray, np.ndarray],
        pool: np.ndarray,
        n_neg: int,
        clip: float,
        seed: int,
    ) -> None:

        seen = self._sorted_seen()
        bpr_finetune_epoch(
            rows.users,
            rows.items,
            order,
            pool,
            n_neg,
            seen.indptr,
            seen.indices,
            self.user_factors_,
            self.item_factors_,
            self.item_bias_,
            *anchors,
            *lr,
            float(self.config.reg),
            *lam,
            clip,
            seed,
        )

    def _partial_fit(
        self,
        local: Interactions,
        new_users: np.ndarray,
        new_items: np.ndarray,
        train: TrainConfig,
    ) -> None:
        """SGD passes over the new events (uniform negatives), no pull toward the old state."""
        rng = np.random.default_rng([train.seed, 11])
        lr = train.learning_rate or self.config.learning_rate
        anchors = (self.user_factors_, self.item_factors_, self.item_bias_)
        pool = np.arange(len(self.item_map_), dtype=np.int32)
        epochs = train.epochs if train.epochs is not None else self.config.update_epochs
        for _ in range(epochs):
            order = rng.permutation(len(local))
            seed = int(rng.integers(2**62))
            self._sgd(local, order, (lr, lr, lr), (0.0, 0.0, 0.0), anchors, pool, 1, 0.0, seed)

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        strategy = ctx.strategy
        if strategy.augment == "popular-negatives":
            pool = self.seen_.indices.astype(np.int32)
        else:
            pool = np.arange(len(self.item_map_), dtype=np.int32)
        n_neg = 1
        if strategy.augment in ("negatives", "popular-negatives"):
            n_neg += math.ceil(strategy.augment_ratio)
        ctx.extra["pool"], ctx.extra["n_neg"] = pool, n_neg

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One SGD pass over the fine-tune rows with L2-SP, freezing and clipping."""
        lr = ctx.learning_rate(self.config.learning_rate) * lr_scale
        rates = tuple(0.0 if ctx.is_frozen(g) else lr for g in self.param_groups)
        lams = tuple(ctx.lam(g) for g in self.param_groups)
        anchors = tuple(ctx.anchors[g] for g in self.param_groups)
        self._sgd(
            ctx.data,
            ctx.rng.permutation(len(ctx.data)),
            rates,  # type: ignore[arg-type]
            lams,  # type: ignore[arg-type]
            anchors,  # type: ignore[arg-type]
            ctx.extra["pool"],
            ctx.extra["n_neg"],
            ctx.strategy.clip_norm or 0.0,
            int(ctx.rng.integers(2**62)),
        )

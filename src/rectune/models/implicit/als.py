"""`ALS`: implicit-feedback matrix factorisation by alternating least squares.

Hu, Koren and Volinsky (2008), "Collaborative filtering for implicit feedback datasets", ICDM:
every (user, item) pair is fitted, the observed ones with preference ``p_ui = 1`` and confidence
``c_ui = 1 + alpha r_ui``, the rest with ``p = 0`` and ``c = 1``; the loss
``sum c_ui (p_ui - x_u . y_i)^2 + reg (|X|^2 + |Y|^2)`` is minimised by alternating exact row
solves, here (as in implicit) approximated by a few conjugate-gradient steps warm-started from
the previous iterate (Takács, Pilászy and Tikk 2011, "Applications of the conjugate gradient
method for implicit feedback collaborative filtering", RecSys).

Differences from implicit 0.7.3: implicit's confidence is ``alpha r`` (so with its default
``alpha=1`` on 0/1 data every pair has confidence 1); here it is the paper's ``1 + alpha r``.
``reg`` is not scaled in either library. Fold-in (`partial_fit`) solves the touched item rows,
then the touched user rows, exactly (Cholesky), like implicit's ``partial_fit_items`` and
``partial_fit_users``.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models._ranking import cosine_rows
from rectune.models._shared import numba_threads
from rectune.models.base import Recommender
from rectune.models.implicit._kernels import als_cg, als_observed_loss, als_solve_rows
from rectune.training.config import TrainConfig
from rectune.training.epochs import report_epoch
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import ITEM_ROW_STARTS

logger = logging.getLogger(__name__)


class ALSConfig(ConfigBase):
    """Hyperparameters of `ALS` (implicit's names in brackets)."""

    embedding_size: int = Field(64, ge=1)
    """Number of latent factors (``factors``)."""
    reg: float = Field(0.01, ge=0)
    """L2 penalty of both factor matrices (``regularization``; not scaled by counts)."""
    alpha: float = Field(1.0, ge=0)
    """Confidence slope: ``c_ui = 1 + alpha |r_ui|`` (Hu et al. 2008, eq. 3)."""
    epochs: int = Field(15, ge=1)
    """Alternating sweeps over users then items (``iterations``)."""
    cg_steps: int = Field(3, ge=1)
    """Conjugate-gradient steps per row and sweep (``cg_steps``)."""
    init_std: float = Field(0.01, gt=0)
    """Initial factors are uniform on [0, init_std) (implicit: ``rand * 0.01``)."""
    fold_in_items: Literal["touched", "new"] = "touched"
    """`partial_fit`: re-solve every item the events touch, or only new items (cheaper: a
    popular item's row barely moves with one more event; implicit's ``partial_fit_users`` alone
    re-solves no item)."""


class ALS(Recommender):
    """Implicit-feedback ALS with conjugate-gradient row solves (Hu et al. 2008).

    Scores are ``x_u . y_i`` (not ratings). Multithreaded over rows with numba ``prange``;
    rows are independent, so a seed gives the same model on any thread count.

    Parameters
    ----------
    config
        An `ALSConfig`, or its fields as keyword arguments.

    Examples
    --------
    >>> from rectune import Interactions
    >>> users = [1, 1, 2, 2, 3, 3, 4]
    >>> items = ["a", "b", "a", "b", "c", "d", "c"]
    >>> data = Interactions.from_raw(users, items, kind="weight")
    >>> model = ALS(embedding_size=4, alpha=5.0, reg=0.1, epochs=10).fit(data)
    >>> model.recommend([4], n=1)[0].tolist()
    [['d']]
    """

    name = "als"
    config_class = ALSConfig
    config: ALSConfig
    state_names = ("user_factors", "item_factors")
    param_groups = ("user_factors", "item_factors")
    predicts_ratings = False
    #: Replayed rows are solved already: they change a row only against an L2-SP pull or a
    #: frozen side. Sweeps are closed-form: no step size or schedule. Items are solved first,
    #: so a new item's start (new_ids=text: items only) is always replaced.
    supported_strategies = frozenset(
        {"l2sp", "freeze", "replay+l2sp", "replay+freeze", "epochs", "new_ids=zeros",
         "new_ids=neighbors", "new_ids=features"}
    )  # fmt: skip
    partial_fit_init = "zeros"
    partial_fit_settings = frozenset({"new_ids=mean", "new_ids=neighbors", "new_ids=features"})
    add_items_settings = ITEM_ROW_STARTS

    user_factors_: np.ndarray
    item_factors_: np.ndarray

    # Caches, cleared in `_invalidate_caches`.
    _grams: dict[str, tuple[np.ndarray, int]] | None = None
    """Side -> (``F^T F`` of its factors, rows it covers), as implicit's ``YtY``."""
    _grams_exact: bool = False
    """True when the last update kept the cached Gram matrices exact (rank updates)."""

    def _fit(self, data: Interactions, train: TrainConfig) -> None:

        cfg = self.config
        self._grams: dict[str, tuple[np.ndarray, int]] = {}
        rng = np.random.default_rng(train.seed)
        k = cfg.embedding_size
        std = np.float32(cfg.init_std)
        self.user_factors_ = rng.random((data.n_users, k), dtype=np.float32) * std
        self.item_factors_ = rng.random((data.n_items, k), dtype=np.float32) * std
        by_user = _csr32(self.seen_)
        by_item = _csr32(self.seen_.T.tocsr())
        alpha = np.float32(cfg.alpha)
        eye = np.eye(k, dtype=np.float32) * np.float32(cfg.reg)
        X, Y = self.user_factors_, self.item_factors_

        def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            return np.einsum("ij,ij->i", X[u], Y[i], dtype=np.float64)

        with numba_threads(train.threads):
            for epoch in range(cfg.epochs):
                als_cg(*by_user, X, Y, Y.T @ Y + eye, alpha, cfg.cg_steps)
                item_rows = als_cg(*by_item, Y, X, X.T @ X + eye, alpha, cfg.cg_steps)
                # Hu et al.'s loss (every pair, both penalties) after the sweep: the item
                # solves return their rows' terms with reg |Y|^2 (from the CG's own dots, no
                # extra pass, see `als_cg`); the user penalty is added here.
                loss = item_rows + cfg.reg * float(np.sum(X * X, dtype=np.float64))
                report_epoch(self._epoch_history, epoch, loss, score)

    # ------------------------------------------------------------------ scoring
    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        dot = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        return dot.astype(np.float64)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return (self.user_factors_[users] @ self.item_factors_.T).astype(np.float64)

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the item factors (implicit's ``similar_items``)."""
        return cosine_rows(self.item_factors_, items)

    def training_loss(self) -> float:
        """Hu et al.'s loss over the training matrix (every pair) plus the penalties."""

        X, Y = self.user_factors_.astype(np.float64), self.item_factors_.astype(np.float64)
        dense = float(np.sum((X.T @ X) * (Y.T @ Y)))
        seen = _csr32(self.seen_)
        observed = als_observed_loss(
            *seen, self.user_factors_, self.item_factors_, self.config.alpha
        )
        penalty = self.config.reg * float(np.sum(X * X) + np.sum(Y * Y))
        return dense + float(observed) + penalty

    # ------------------------------------------------------------------ updates
    def _solve(
        self,
        side: str,
        matrix: tuple[np.ndarray, np.ndarray, np.ndarray],
        rows: np.ndarray,
        lam: float,
        anchor: np.ndarray | None,
        threads: int = 0,
    ) -> None:
        """Exact solves of ``rows`` of the ``side`` factors given the other side."""

        if len(rows) == 0:
            return
        own = self.user_factors_ if side == "user" else self.item_factors_
        other = self.item_factors_ if side == "user" else self.user_factors_
        other_side = "item" if side == "user" else "user"
        gram = self._gram_of(other_side)
        x0 = own if anchor is None else anchor
        before = own[rows].astype(np.float64)
        with numba_threads(threads):
            als_solve_rows(
                *matrix,
                own,
                other,
                gram,
                float(self.config.reg),
                np.float32(self.config.alpha),
                float(lam),
                x0,
                rows.astype(np.int64),
            )
        self._update_gram(side, rows, before)

    def _gram_of(self, side: str) -> np.ndarray:
        """``F^T F`` of one side's factors, cached across solves (as implicit's ``YtY``)."""
        caches = self._gram_cache()
        factors = self.user_factors_ if side == "user" else self.item_factors_
        cached = caches.get(side)
        if cached is None or cached[1] != len(factors):
            caches[side] = (_gram(factors), len(factors))
        return caches[side][0]

    def _update_gram(self, side: str, rows: np.ndarray, before: np.ndarray) -> None:
        """Keep a cached Gram matrix exact after re-solving some rows (rank updates)."""
        caches = self._gram_cache()
        cached = caches.get(side)
        if cached is None:
            return
        gram, n_rows = cached
        factors = self.user_factors_ if side == "user" else self.item_factors_
        old = before[rows < n_rows]  # rows added since the Gram was computed were not in it
        after = factors[rows].astype(np.float64)
        caches[side] = (gram - old.T @ old + after.T @ after, len(factors))

    def _gram_cache(self) -> dict[str, tuple[np.ndarray, int]]:
        if self._grams is None:
            self._grams = {}
        return self._grams

    def _invalidate_caches(self) -> None:
        """Drop the Gram caches unless the last update kept them exact (`_update_gram`)."""
        if not self._grams_exact:
            self._grams = {}
        self._grams_exact = False

    def _partial_fit(
        self,
        local: Interactions,
        new_users: np.ndarray,
        new_items: np.ndarray,
        train: TrainConfig,
    ) -> None:
        """Fold-in: exact solves of the touched (or new) items, then the touched users."""
        items = np.unique(local.items) if self.config.fold_in_items == "touched" else new_items
        if len(items):
            by_item = _csr32(self.seen_.T.tocsr())
            self._solve("item", by_item, items, 0.0, None, train.threads)
        self._solve("user", _csr32(self.seen_), np.unique(local.users), 0.0, None, train.threads)
        self._grams_exact = True  # every solve above kept the cached Gram matrices exact

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        """Rows to re-solve: those the fine-tune data touch; their confidences: all seen data.

        An ALS row is a closed-form function of its whole interaction row, so continued
        training re-solves the touched rows over everything the model has seen (the new rows
        are already merged in), pulled toward the parent by L2-SP; solving on the new rows alone
        would make each touched user forget their history.
        """
        d = ctx.data
        ctx.extra["by_user"] = _csr32(self.seen_)
        ctx.extra["by_item"] = _csr32(self.seen_.T.tocsr())
        ctx.extra["users"] = np.unique(d.users)
        ctx.extra["items"] = np.unique(d.items)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One ALS sweep over the rows the data touch, ridge toward the parent (L2-SP)."""
        th = ctx.train.threads
        if not ctx.is_frozen("item_factors"):
            anchor = ctx.anchors["item_factors"]
            lam = ctx.lam("item_factors")
            self._solve("item", ctx.extra["by_item"], ctx.extra["items"], lam, anchor, th)
        if not ctx.is_frozen("user_factors"):
            anchor = ctx.anchors["user_factors"]
            lam = ctx.lam("user_factors")
            self._solve("user", ctx.extra["by_user"], ctx.extra["users"], lam, anchor, th)


def _gram(factors: np.ndarray) -> np.ndarray:
    f64 = factors.astype(np.float64)
    return f64.T @ f64


def _csr32(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data as float32) of a CSR matrix, for the kernels."""
    return m.indptr, m.indices, m.data.astype(np.float32)

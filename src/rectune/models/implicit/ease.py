"""`EASE`: the embarrassingly shallow autoencoder, an item-item model in closed form.

Steck (2019), "Embarrassingly shallow autoencoders for sparse data", WWW: the item-item weights
``B`` minimise ``|X - X B|^2 + reg |B|^2`` subject to ``diag(B) = 0``, solved by
``P = (G + reg I)^-1`` with the Gram matrix ``G = X^T X`` and ``B = I - P diag(1 / diag P)``.
A user's scores are ``x_u B``.

Fine-tuning with L2-SP toward the parent weights ``B0`` adds ``mu |B - B0|^2``; the constrained
minimiser is still closed form: ``P = (G + (reg + mu) I)^-1``, ``B = P (G + mu B0)`` then the
zero-diagonal correction ``B -= P diag(gamma)`` with ``gamma_j = B_jj / P_jj``. `partial_fit`
updates the stored Gram matrix from the changed user rows and re-solves.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models.base import Recommender
from rectune.models.implicit._kernels import ease_pairs
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import ITEM_ROW_STARTS

logger = logging.getLogger(__name__)


class EASEConfig(ConfigBase):
    """Hyperparameters of `EASE`."""

    reg: float = Field(500.0, gt=0)
    """L2 penalty ``lambda`` on the item-item weights (Steck 2019 uses 200 to 1000)."""


def ease_solve(gram: np.ndarray, reg: float, mu: float = 0.0, anchor: Any = None) -> np.ndarray:
    """Zero-diagonal item-item weights from a Gram matrix, optionally pulled toward ``anchor``.

    Minimises ``|X - X B|^2 + reg |B|^2 + mu |B - anchor|^2`` subject to ``diag(B) = 0``, where
    ``gram = X^T X``; computed in float64, returned as float32.

    Examples
    --------
    >>> G = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> ease_solve(G, reg=1.0).astype(float).round(3).tolist()
    [[0.0, 0.333], [0.333, 0.0]]
    """
    n = gram.shape[0]
    A = np.array(gram, dtype=np.float64, copy=True)
    A[np.diag_indices(n)] += reg + mu
    P = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A, overwrite_a=True), np.eye(n))
    diag = np.diag(P).copy()
    if mu == 0.0 or anchor is None:
        B = P / (-diag)[None, :]
    else:
        rhs = np.array(gram, dtype=np.float64, copy=True)
        rhs += mu * np.asarray(anchor, dtype=np.float64)
        B = P @ rhs
        gamma = np.diag(B) / diag
        B -= P * gamma[None, :]
    B[np.diag_indices(n)] = 0.0
    # C order: scoring multiplies by rows of B; a Fortran-ordered B (what the solve returns)
    # made scipy copy all of it for every call (12 ms per single-user request on ML-100K)
    return np.ascontiguousarray(B, dtype=np.float32)


class EASE(Recommender):
    """Closed-form item-item autoencoder with a zero diagonal (Steck 2019).

    Works on any non-negative interaction values (weights, or ratings treated as weights);
    memory and time grow with the square and cube of the number of items.

    Parameters
    ----------
    config
        An `EASEConfig`, or its fields as keyword arguments.

    Examples
    --------
    >>> from rectune import Interactions
    >>> users = [1, 1, 2, 2, 3, 3, 4]
    >>> items = ["a", "b", "a", "b", "c", "d", "c"]
    >>> model = EASE(reg=0.5).fit(Interactions.from_raw(users, items, kind="weight"))
    >>> model.recommend([4], n=1)[0].tolist()
    [['d']]
    """

    name = "ease"
    config_class = EASEConfig
    config: EASEConfig
    state_names = ("item_similarity", "gram")
    param_groups = ("item_similarity",)
    predicts_ratings = False
    #: One closed-form solve: no epochs, step size or new-id start.
    supported_strategies = frozenset({"l2sp", "freeze", "replay"})
    partial_fit_init = "zeros"
    #: A new item's weight column (and row) mapped from the known items' by its text or
    #: features, or their mean; zeros score it 0 for everyone. `partial_fit` re-solves.
    add_items_settings = ITEM_ROW_STARTS

    item_similarity_: np.ndarray
    gram_: np.ndarray

    # Caches rebuilt by `_after_load`.
    _gram_seen: sp.csr_matrix
    """The seen matrix the Gram matrix was computed from (updates subtract its rows)."""
    _seen32: sp.csr_matrix
    """``seen_`` as float32, for full-catalogue scoring."""

    def row_axes(self) -> dict[str, tuple[str, ...]]:
        return {"item_similarity": ("item", "item"), "gram": ("item", "item")}

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """Items added without interactions (`add_items`): their weight column (how a user's
        history scores them) and row (their similarities) mapped from the known items' columns
        and rows by text or features, or their mean. Updates re-solve the closed form, so only
        `add_items` starts them: elsewhere they stay 0 as grown."""
        if not (init.catalogue and len(new_items)) or init.method == "zeros":
            return
        n0, B = init.n_items0, self.item_similarity_
        B[:n0, new_items] = init.rows(B[:n0, :n0].T, "item").T  # known items' columns
        B[new_items, :n0] = init.rows(B[:n0, :n0], "item")  # and rows

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        self.gram_ = _gram(self.seen_).astype(np.float32)
        self.item_similarity_ = ease_solve(self.gram_, self.config.reg)
        self._after_load()

    def _after_load(self) -> None:
        # artifacts saved before the weights were kept in C order hold them in Fortran order
        self.item_similarity_ = np.ascontiguousarray(self.item_similarity_)
        # The seen matrix the Gram matrix was computed from (updates subtract its rows).
        self._gram_seen = self.seen_
        self._seen32 = self.seen_.astype(np.float32)

    def _update_gram(self, users: np.ndarray) -> None:
        """Replace the touched users' contributions to the Gram matrix by their new rows."""
        n_u, n_i = self.seen_.shape
        old = self._gram_seen.copy()
        old.resize((n_u, n_i))
        users = np.unique(users)
        before, after = old[users], self.seen_[users]
        gram = self.gram_.astype(np.float64)
        gram += (after.T @ after).toarray()
        gram -= (before.T @ before).toarray()
        self.gram_ = gram.astype(np.float32)

    # ------------------------------------------------------------------ scoring
    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        s = self.seen_
        return ease_pairs(s.indptr, s.indices, s.data, self.item_similarity_, users, items)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self._seen32[users] @ self.item_similarity_, dtype=np.float64)

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Row ``j`` of the weights: how much having item ``j`` adds to each item's score."""
        return np.asarray(self.item_similarity_[items], dtype=np.float64)

    # ------------------------------------------------------------------ updates
    def _partial_fit(
        self,
        local: Interactions,
        new_users: np.ndarray,
        new_items: np.ndarray,
        train: TrainConfig,
    ) -> None:
        """Update the Gram matrix from the changed users and re-solve the closed form."""
        self._update_gram(local.users)
        self.item_similarity_ = ease_solve(self.gram_, self.config.reg)

    def _default_finetune_epochs(self) -> int:
        return 1

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        d = ctx.data
        m = sp.csr_matrix((d.values, (d.users, d.items)), shape=self.seen_.shape)
        m.sum_duplicates()
        ctx.extra["gram"] = _gram(m)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """The closed form on the fine-tune rows with L2-SP toward the parent (one step)."""
        if epoch > 0 or ctx.is_frozen("item_similarity"):
            return
        mu = ctx.lam("item_similarity")
        anchor = ctx.anchors["item_similarity"]
        self.item_similarity_ = ease_solve(ctx.extra["gram"], self.config.reg, mu, anchor)

    def _finetune_end(self, ctx: FinetuneContext) -> None:
        self._update_gram(ctx.data.users[: ctx.n_new_rows])


def _gram(m: sp.csr_matrix) -> np.ndarray:
    """Dense ``X^T X`` (float64) of a users x items sparse matrix."""
    return np.asarray((m.T @ m).toarray(), dtype=np.float64)

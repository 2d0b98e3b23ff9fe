"""User- and item-based k-nearest-neighbour models.

Rating estimates follow Surprise's ``KNNBasic`` / ``KNNWithMeans`` / ``KNNBaseline`` exactly
(``centering`` = ``"none"`` / ``"mean"`` / ``"baseline"``): the neighbours of item ``i`` for user
``u`` are the items ``u`` rated, of which the ``n_neighbors`` most similar with a similarity
above ``min_sim`` are kept, and

    r_ui = b_ui + sum_j s_ij (r_uj - b_uj) / sum_j s_ij

with ``b`` the baseline ``mu + b_u + b_i`` (Koren 2010, "Factor in the neighbors: scalable and
accurate collaborative filtering", eq. 3), the mean rating of the item, or zero. With fewer than
``min_k`` neighbours the estimate is ``b_ui`` (the global mean for ``"none"``). Item-kNN is
user-kNN on the transposed problem (Sarwar et al. 2001, "Item-based collaborative filtering
recommendation algorithms"). On implicit data (kind ``"weight"``) similarities are whole-vector
cosine or Jaccard, optionally on TF-IDF or BM25 weights (``weighting``, as implicit's
``TFIDFRecommender`` / ``BM25Recommender``), and the score of an item sums similarities: by
default each entity keeps its ``n_neighbors`` most similar ones (Deshpande and Karypis 2004,
"Item-based top-N recommendation algorithms"; ``implicit_neighbors="pruned"``), or the
``n_neighbors`` largest similarities among the user's items are summed (``"query"``). Pruned
models keep only a sparse ``(n, n_neighbors)`` neighbour table (``neighbors_`` and the float32
similarity group), built without an ``n x n`` matrix; ``similarity_`` densifies it on demand.
As in implicit, a user's items vote with their own neighbourhoods; unlike implicit's ``K``,
``n_neighbors`` does not count the item itself (implicit's ``K=20`` keeps 19 others).

``partial_fit`` updates the similarities incrementally from pair accumulators (pruned: recomputes
the affected rows of the table from the neighbour lists) and folds in the biases of touched rows;
``finetune`` honours ``l2sp``, ``freeze``, ``replay`` and ``new_ids=neighbors`` (see
`rectune.models._knn_update` for the method, its memory cost and its approximations; L2-SP on a
pruned table shrinks each whole similarity row toward the parent's, then prunes). With pruned
neighbourhoods, ties at the k-th neighbour go to the lower model index, so after new ids were
appended an update may keep a different one of equally similar neighbours than a refit would
(the similarity values are the same).

Two optional extensions, off by default (the defaults reproduce Surprise): ``sum_reg`` adds a
constant to the denominator ``sum_j s_ij`` (estimates from few or weak neighbours stay near
``b_ui``), and ``amplification`` raises similarities to a power (case amplification, Breese,
Heckerman and Kadie 1998). On MovieLens 100K (5-fold) item-kNN with ``pearson_baseline`` goes
from RMSE 0.9176 (Surprise's defaults) to about 0.909 with both and lighter baseline
regularisation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

import numpy as np
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.models import _knn_kernels as K
from rectune.models import _knn_stats as S
from rectune.models import _knn_update as U
from rectune.models.base import Recommender
from rectune.models.baselines import BaselineConfig, bias_fallback, fit_biases
from rectune.training.config import TrainConfig

logger = logging.getLogger(__name__)

Similarity = Literal["cosine", "jaccard", "pearson", "pearson_baseline", "msd"]


class KNNConfig(ConfigBase):
    """Hyperparameters of `UserKNN` and `ItemKNN` (defaults: Surprise's ``KNNBaseline``)."""

    similarity: Similarity | None = None
    """Similarity measure; None picks ``"pearson_baseline"`` for ratings, ``"cosine"`` for
    implicit data (where only ``"cosine"`` and ``"jaccard"`` are defined)."""
    n_neighbors: int = Field(40, ge=1)
    """Largest number of neighbours aggregated per estimate (Surprise's ``k``)."""
    min_k: int = Field(1, ge=0)
    """Fewer qualifying neighbours than this and the estimate falls back to the baseline."""
    min_support: int = Field(1, ge=1)
    """Pairs with fewer co-ratings get similarity 0 (at least 2 for ``pearson_baseline``)."""
    shrinkage: float = Field(100.0, ge=0)
    """Shrinks a similarity by ``(n - 1) / (n - 1 + shrinkage)``, n the co-rating count."""
    shrink_all: bool = False
    """Shrink every similarity, not only ``pearson_baseline`` (Surprise shrinks only that)."""
    amplification: float = Field(1.0, gt=0)
    """Case amplification: similarities become ``sign(s) |s| ** amplification`` (Breese et al.
    1998); values above 1 favour the closest neighbours (1: Surprise)."""
    min_sim: float = Field(0.0, ge=0)
    """Neighbours with a similarity at or below this are ignored."""
    sum_reg: float = Field(0.0, ge=0)
    """Added to the sum of similarities that divides the weighted deviations, pulling estimates
    from few or weak neighbours toward the base (0: Surprise; useful with centering)."""
    weighting: Literal["none", "tfidf", "bm25"] = "none"
    """Implicit data only: weight the interactions before the cosine as implicit's
    ``TFIDFRecommender`` (``sqrt(w) * idf``, idf over the other side) or ``BM25Recommender``
    (BM25 weights, similarity the plain dot product)."""
    bm25_k1: float = Field(1.2, ge=0)
    """BM25 saturation ``K1`` (implicit's default)."""
    bm25_b: float = Field(0.75, ge=0, le=1)
    """BM25 length normalisation ``B`` (implicit's default)."""
    implicit_neighbors: Literal["pruned", "query"] = "pruned"
    """Implicit data: ``pruned`` keeps each entity's ``n_neighbors`` most similar ones in the
    model and sums, for an item, the similarities of the user's items that have it as a
    neighbour (Deshpande and Karypis 2004; implicit's ``ItemItemRecommender``); ``query``
    sums the ``n_neighbors`` largest similarities among the user's items (Sarwar et al.)."""
    centering: Literal["none", "mean", "baseline"] = "baseline"
    """Rating estimate: weighted mean of raw ratings (KNNBasic), deviations from the means
    (KNNWithMeans) or from the baselines (KNNBaseline). Unused on implicit data."""
    baseline_method: Literal["als", "sgd"] = "als"
    """How the baselines (``centering="baseline"``, ``pearson_baseline``) are fitted."""
    baseline_epochs: int = Field(10, ge=1)
    """Baseline passes over the data (Surprise: 10 for ALS, 20 for SGD)."""
    baseline_reg_user: float = Field(15.0, ge=0)
    """ALS regularisation of the user biases."""
    baseline_reg_item: float = Field(10.0, ge=0)
    """ALS regularisation of the item biases."""
    baseline_reg: float = Field(0.02, ge=0)
    """SGD regularisation of both biases."""
    baseline_learning_rate: float = Field(0.005, gt=0)
    """SGD step size."""

    def baseline_config(self) -> BaselineConfig:
        """The baseline options as a `BaselineConfig`."""
        return BaselineConfig(
            method=self.baseline_method,
            epochs=self.baseline_epochs,
            reg_user=self.baseline_reg_user,
            reg_item=self.baseline_reg_item,
            reg=self.baseline_reg,
            learning_rate=self.baseline_learning_rate,
        )


class UserKNNConfig(KNNConfig):
    """Hyperparameters of `UserKNN`."""


class ItemKNNConfig(KNNConfig):
    """Hyperparameters of `ItemKNN`."""


class _KNN(Recommender):
    """Shared implementation; ``user_based`` chooses which side the similarities are over."""

    user_based: ClassVar[bool]
    sim_name: ClassVar[str]
    config: KNNConfig

    user_bias_: np.ndarray
    item_bias_: np.ndarray
    user_mean_: np.ndarray
    item_mean_: np.ndarray
    rated_indptr_: np.ndarray
    rated_indices_: np.ndarray
    rated_values_: np.ndarray
    pair_stats_: np.ndarray | None
    pair_values_: np.ndarray | None
    neighbors_: np.ndarray | None
    """Pruned neighbourhoods only: the (n, k) neighbour indices of the similarity table."""
    _dev: np.ndarray

    supported_strategies = frozenset({"l2sp", "freeze", "replay", "new_ids=neighbors"})

    # ------------------------------------------------------------------ training
    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        cfg = self.config
        implicit = data.kind == "weight"
        self.measure_code()  # validate similarity and weighting before any work
        if implicit:
            self.user_bias_ = np.zeros(data.n_users)
            self.item_bias_ = np.zeros(data.n_items)
        else:
            mu = self.global_mean_
            self.user_bias_, self.item_bias_ = fit_biases(
                data, cfg.baseline_config(), mu, train.seed
            )
        self.user_mean_ = U._means(data.users, data.values, data.n_users, self.global_mean_)
        self.item_mean_ = U._means(data.items, data.values, data.n_items, self.global_mean_)
        xs, ys = (data.users, data.items) if self.user_based else (data.items, data.users)
        n_x, n_y = (data.n_users, data.n_items) if self.user_based else (data.n_items, data.n_users)
        # y-major rating lists in data order: the neighbour candidates at prediction time
        order = np.argsort(ys, kind="stable")
        self.rated_indptr_ = U._indptr(ys, n_y)
        self.rated_indices_ = xs[order].astype(np.int32)
        self.rated_values_ = data.values[order]
        self.pair_stats_ = self.pair_values_ = self.neighbors_ = None
        with U.threads(train.threads):
            if self.pruned:
                self.neighbors_, sim = U.fit_pruned(self, U.n_chunks(n_x))
            else:
                sim = U.full_similarity(self, U.n_chunks(n_x))
        setattr(self, self.sim_name + "_", sim)
        self._after_load()
        logger.debug("%s: %s similarity %s", self.name, "pruned" * self.pruned, sim.shape)

    @property
    def pruned(self) -> bool:
        """True when the model keeps pruned neighbourhoods (implicit data, ``pruned``)."""
        return self.data_kind_ == "weight" and self.config.implicit_neighbors == "pruned"

    def measure_code(self) -> int:
        """The kernel code of the similarity measure for the model's data kind."""
        return U.measure_code(self)

    def _after_load(self) -> None:
        """Rebuild the per-rating deviations ``r - b`` of the neighbour lists."""
        ys = np.repeat(np.arange(len(self.rated_indptr_) - 1), np.diff(self.rated_indptr_))
        xs = self.rated_indices_
        us, its = (xs, ys) if self.user_based else (ys, xs)
        r = self.rated_values_
        centering = self.config.centering
        if centering == "baseline":
            self._dev = r - (self.global_mean_ + self.user_bias_[us] + self.item_bias_[its])
        elif centering == "mean":
            self._dev = r - (self.user_mean_[us] if self.user_based else self.item_mean_[its])
        else:
            self._dev = np.ascontiguousarray(r, dtype=np.float64)
        order = np.argsort(xs, kind="stable")  # x-major lists, for pruned user-kNN scoring
        self._by_x = U._indptr(xs, U.sizes(self)[0]), ys[order]

    # ------------------------------------------------------------------ updates
    # Incremental updates and fine-tuning: see `_knn_update` for the method and its
    # approximations. Fine-tuning merges the new rows into the neighbour lists and recomputes
    # the touched similarities on the combined data; L2-SP shrinks them toward the parent's,
    # ``s = (n s_new + lam s_parent) / (n + lam)`` with n the co-support, and pulls the biases
    # toward the parent's by ridge steps. Replayed parent rows are already in the lists: they
    # widen the refreshed rows (biases and similarities) instead of being counted twice.
    def _grow(
        self,
        local: Interactions,
        new_users: np.ndarray,
        new_items: np.ndarray,
        method: str,
        strategy: Any,
    ) -> None:
        super()._grow(local, new_users, new_items, method, strategy)
        n_x, n_y = U.sizes(self)
        ptr = self.rated_indptr_
        self.rated_indptr_ = np.concatenate([ptr, np.full(n_y + 1 - len(ptr), ptr[-1])])
        if self.pruned:
            U.grow_table(self, n_x)
        stats = self.pair_stats_
        if stats is not None and stats.shape[1] < n_x:
            grown = np.zeros((stats.shape[0], n_x, n_x), dtype=stats.dtype)
            grown[:, : stats.shape[1], : stats.shape[2]] = stats
            self.pair_stats_ = grown

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        U.ensure_stats(self)
        U.fold_biases(self, local.users, local.items)
        rows = U.merge_events(self, local.users, local.items, local.values)
        with U.threads(train.threads):
            U.refresh_rows(self, rows, U.n_chunks(len(rows)))

    def _default_finetune_epochs(self) -> int:
        return 1

    def _finetune_begin(self, ctx: Any) -> None:
        U.ensure_stats(self)
        if self.pruned:
            assert self.neighbors_ is not None
            ctx.extra["parent_neighbors"] = self.neighbors_.copy()

    def _finetune_epoch(self, ctx: Any, epoch: int, lr_scale: float) -> None:
        """One closed-form sweep of the touched biases (ridge toward the parent's)."""
        U.fold_biases(self, ctx.data.users, ctx.data.items, ctx)

    def _finetune_end(self, ctx: Any) -> None:
        d, n_new = ctx.data, ctx.n_new_rows
        rows = U.merge_events(self, d.users[:n_new], d.items[:n_new], d.values[:n_new])
        replayed = d.users[n_new:] if self.user_based else d.items[n_new:]
        rows = np.union1d(rows, replayed)
        if not ctx.is_frozen(self.sim_name):
            lam, anchor = ctx.lam(self.sim_name), ctx.anchors[self.sim_name]
            if self.pruned:
                anchor = (ctx.extra["parent_neighbors"], anchor)
            with U.threads(ctx.train.threads):
                U.refresh_rows(self, rows, U.n_chunks(len(rows)), lam, anchor)

    def get_state(self) -> dict[str, np.ndarray]:
        """The learned arrays plus, once built, the pair accumulators of incremental updates."""
        state = super().get_state()
        if self.pair_stats_ is not None and self.pair_values_ is not None:
            state["_pair_stats"] = self.pair_stats_
            state["_pair_values"] = self.pair_values_
        if self.neighbors_ is not None:
            state["_neighbors"] = self.neighbors_
        return state

    def set_state(
        self, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
    ) -> Self:
        self.pair_stats_ = state.get("_pair_stats")
        self.pair_values_ = state.get("_pair_values")
        self.neighbors_ = state.get("_neighbors")
        return super().set_state(state, user_map, item_map, kind)

    # ------------------------------------------------------------------ scoring
    @property
    def similarity_(self) -> np.ndarray:
        """The dense float32 similarity matrix (users x users or items x items).

        With pruned neighbourhoods a dense view built from the neighbour table (``O(n**2)``
        memory; the model itself never holds it): item-kNN stores ``s_ij`` at ``[j, i]`` when
        ``j`` is one of ``i``'s neighbours (column ``i`` holds ``i``'s neighbourhood), user-kNN
        at ``[u, v]`` when ``v`` is one of ``u``'s; the diagonal is 1.
        """
        self._check_fitted()
        sim = getattr(self, self.sim_name + "_")
        return U.dense_view(self) if self.pruned else sim

    def row_axes(self) -> dict[str, tuple[str, ...]]:
        """As the base class, except the pruned neighbour table (grown by `_grow`)."""
        axes = super().row_axes()
        if self.pruned:
            del axes[self.sim_name]
        return axes

    def _pruned_args(self) -> tuple:
        """Neighbour table, neighbour lists, ``min_k`` and ``min_sim`` (pruned kernels)."""
        sim = getattr(self, self.sim_name + "_")
        cfg = self.config
        return (self.neighbors_, sim, self.rated_indptr_, self.rated_indices_, cfg.min_k,
                cfg.min_sim)  # fmt: skip

    def _kernel_args(self) -> tuple:
        """Similarity, neighbour lists and base terms ``c + base_x[x] + base_y[y]``."""
        centering = self.config.centering
        zeros_u, zeros_i = np.zeros(len(self.user_map_)), np.zeros(len(self.item_map_))
        c, bu, bi = 0.0, zeros_u, zeros_i
        if centering == "baseline":
            c, bu, bi = self.global_mean_, self.user_bias_, self.item_bias_
        elif centering == "mean":
            bu, bi = (self.user_mean_, zeros_i) if self.user_based else (zeros_u, self.item_mean_)
        base_x, base_y = (bu, bi) if self.user_based else (bi, bu)
        cfg = self.config
        return (
            self.similarity_, self.rated_indptr_, self.rated_indices_, self._dev, c, base_x,
            base_y, self.global_mean_, centering == "none", cfg.n_neighbors, cfg.min_k,
            cfg.min_sim, cfg.sum_reg, self.data_kind_ == "weight",
        )  # fmt: skip

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        xs, ys = (users, items) if self.user_based else (items, users)
        xs = np.ascontiguousarray(xs, dtype=np.int64)
        ys = np.ascontiguousarray(ys, dtype=np.int64)
        if self.pruned:
            return S.score_pruned_pairs(xs, ys, self.user_based, *self._pruned_args())
        return K.predict_pairs(xs, ys, *self._kernel_args(), U.n_chunks(len(xs)))

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        users = np.ascontiguousarray(users, dtype=np.int64)
        if self.pruned:
            nbr, val, ptr, idx, min_k, min_sim = self._pruned_args()
            return S.score_pruned_users(
                users, len(self.item_map_), self.user_based, nbr, val, ptr, idx, *self._by_x,
                min_k, min_sim,
            )  # fmt: skip
        sim, *rest = self._kernel_args()
        return K.score_users(users, len(self.item_map_), self.user_based, sim, *rest)

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.data_kind_ == "weight":
            return np.zeros(len(users))
        if self.config.centering == "baseline":
            return bias_fallback(self.global_mean_, self.user_bias_, self.item_bias_, users, items)
        return np.full(len(users), self.global_mean_)  # Surprise: PredictionImpossible


class UserKNN(_KNN):
    """User-based k-nearest neighbours (Surprise's KNNBasic/WithMeans/Baseline, user_based).

    See the module documentation for the estimate and `KNNConfig` for the hyperparameters.

    Examples
    --------
    >>> from rectune import Interactions
    >>> data = Interactions.from_raw(
    ...     [1, 1, 1, 2, 2, 2, 3, 3], ["a", "b", "c", "a", "b", "c", "a", "b"],
    ...     [5, 4, 1, 4, 5, 2, 5, 5])
    >>> model = UserKNN(similarity="msd", centering="none").fit(data)
    >>> round(float(model.predict([3], ["c"])[0]), 3)
    1.5
    """

    name = "user-knn"
    config_class = UserKNNConfig
    user_based = True
    sim_name = "user_similarity"
    state_names = (
        "user_similarity", "user_bias", "item_bias", "user_mean", "item_mean",
        "rated_indptr", "rated_indices", "rated_values",
    )  # fmt: skip
    param_groups = ("user_similarity", "user_bias", "item_bias")

    user_similarity_: np.ndarray


class ItemKNN(_KNN):
    """Item-based k-nearest neighbours (Surprise's KNNBaseline with ``user_based=False``).

    See the module documentation for the estimate and `KNNConfig` for the hyperparameters.

    Examples
    --------
    >>> from rectune import Interactions
    >>> data = Interactions.from_raw(
    ...     [1, 1, 2, 2, 3, 3, 3], ["a", "b", "a", "b", "a", "b", "c"],
    ...     [5, 4, 2, 1, 4, 4, 4])
    >>> model = ItemKNN(similarity="pearson", centering="mean").fit(data)
    >>> round(float(model.similarity_[0, 1]), 3)
    0.945
    >>> implicit = data.binarize()
    >>> ItemKNN().fit(implicit).recommend([1], n=1)[0].tolist()
    [['c']]
    """

    name = "item-knn"
    config_class = ItemKNNConfig
    user_based = False
    sim_name = "item_similarity"
    state_names = (
        "item_similarity", "user_bias", "item_bias", "user_mean", "item_mean",
        "rated_indptr", "rated_indices", "rated_values",
    )  # fmt: skip
    param_groups = ("item_similarity", "user_bias", "item_bias")

    item_similarity_: np.ndarray


__all__ = ["ItemKNN", "ItemKNNConfig", "KNNConfig", "UserKNN", "UserKNNConfig"]

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
from typing import ClassVar, Self

import numpy as np

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.models._shared import n_chunks, numba_threads
from rectune.models.base import Recommender
from rectune.models.baselines import bias_fallback, fit_biases
from rectune.models.knn import _kernels as K
from rectune.models.knn import _stats as S
from rectune.models.knn._similarity import (
    dense_view,
    fit_pruned,
    full_similarity,
    indptr_of,
    means_of,
    sizes,
)
from rectune.models.knn._similarity import measure_code as similarity_measure
from rectune.models.knn._update import (
    ensure_stats,
    fold_biases,
    grow_table,
    merge_events,
    refresh_rows,
)
from rectune.models.knn.config import ItemKNNConfig, KNNConfig, UserKNNConfig
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext

logger = logging.getLogger(__name__)


class KNNBase(Recommender):
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
    """Cache: per-rating deviations ``r - b`` of the neighbour lists (see `_after_load`)."""
    _by_x: tuple[np.ndarray, np.ndarray]
    """Cache: x-major neighbour lists (pointer, ys), for pruned user-kNN scoring."""

    supported_strategies = frozenset(
        {"l2sp", "freeze", "replay+l2sp", "epochs", "new_ids=neighbors", "new_ids=zeros"}
    )
    partial_fit_settings = frozenset({"new_ids=zeros", "new_ids=neighbors"})
    #: Similarities come from co-ratings: an item nobody rated has none, and text cannot give
    #: it any; it is scored by its baseline (item bias 0 or the mean bias).
    add_items_settings = frozenset({"new_ids=zeros", "new_ids=mean"})

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
        self.user_mean_ = means_of(data.users, data.values, data.n_users, self.global_mean_)
        self.item_mean_ = means_of(data.items, data.values, data.n_items, self.global_mean_)
        xs, ys = (data.users, data.items) if self.user_based else (data.items, data.users)
        n_x, n_y = (data.n_users, data.n_items) if self.user_based else (data.n_items, data.n_users)
        # y-major rating lists in data order: the neighbour candidates at prediction time
        order = np.argsort(ys, kind="stable")
        self.rated_indptr_ = indptr_of(ys, n_y)
        self.rated_indices_ = xs[order].astype(np.int32)
        self.rated_values_ = data.values[order]
        self.pair_stats_ = self.pair_values_ = self.neighbors_ = None
        with numba_threads(train.threads):
            if self.pruned:
                self.neighbors_, sim = fit_pruned(self, n_chunks(n_x))
            else:
                sim = full_similarity(self, n_chunks(n_x))
        setattr(self, self.sim_name + "_", sim)
        self._after_load()
        logger.debug("%s: %s similarity %s", self.name, "pruned" * self.pruned, sim.shape)

    @property
    def pruned(self) -> bool:
        """True when the model keeps pruned neighbourhoods (implicit data, ``pruned``)."""
        return self.data_kind_ == "weight" and self.config.implicit_neighbors == "pruned"

    def measure_code(self) -> int:
        """The kernel code of the similarity measure for the model's data kind."""
        return similarity_measure(self)

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
        self._by_x = indptr_of(xs, sizes(self)[0]), ys[order]

    # ------------------------------------------------------------------ updates
    # Incremental updates and fine-tuning: see `_knn_update` for the method and its
    # approximations. Fine-tuning merges the new rows into the neighbour lists and recomputes
    # the touched similarities on the combined data; L2-SP shrinks them toward the parent's,
    # ``s = (n s_new + lam s_parent) / (n + lam)`` with n the co-support, and pulls the biases
    # toward the parent's by ridge steps. Replayed parent rows are already in the lists: they
    # widen the refreshed rows (biases and similarities) instead of being counted twice.
    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """Neighbour lists, pruned table and pair accumulators for new ids (the biases, means
        and dense similarity grew by `row_axes`)."""
        n_x, n_y = sizes(self)
        ptr = self.rated_indptr_
        self.rated_indptr_ = np.concatenate([ptr, np.full(n_y + 1 - len(ptr), ptr[-1])])
        if self.pruned:
            grow_table(self, n_x)
        stats = self.pair_stats_
        if stats is not None and stats.shape[1] < n_x:
            grown = np.zeros((stats.shape[0], n_x, n_x), dtype=stats.dtype)
            grown[:, : stats.shape[1], : stats.shape[2]] = stats
            self.pair_stats_ = grown

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        ensure_stats(self)
        fold_biases(self, local.users, local.items)
        rows = merge_events(self, local.users, local.items, local.values)
        with numba_threads(train.threads):
            refresh_rows(self, rows, n_chunks(len(rows)))

    def _default_finetune_epochs(self) -> int:
        return 1

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        ensure_stats(self)
        if self.pruned:
            assert self.neighbors_ is not None
            ctx.extra["parent_neighbors"] = self.neighbors_.copy()

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """One closed-form sweep of the touched biases (ridge toward the parent's)."""
        fold_biases(self, ctx.data.users, ctx.data.items, ctx)

    def _finetune_end(self, ctx: FinetuneContext) -> None:
        d, n_new = ctx.data, ctx.n_new_rows
        rows = merge_events(self, d.users[:n_new], d.items[:n_new], d.values[:n_new])
        replayed = d.users[n_new:] if self.user_based else d.items[n_new:]
        rows = np.union1d(rows, replayed)
        if not ctx.is_frozen(self.sim_name):
            lam, anchor = ctx.lam(self.sim_name), ctx.anchors[self.sim_name]
            if self.pruned:
                anchor = (ctx.extra["parent_neighbors"], anchor)
            with numba_threads(ctx.train.threads):
                refresh_rows(self, rows, n_chunks(len(rows)), lam, anchor)

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
        return dense_view(self) if self.pruned else sim

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
        return K.predict_pairs(xs, ys, *self._kernel_args(), n_chunks(len(xs)))

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


class UserKNN(KNNBase):
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


class ItemKNN(KNNBase):
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

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Column ``i`` of the similarity matrix: item ``i``'s neighbourhood."""
        return np.asarray(self.similarity_[:, items].T, dtype=np.float64)


__all__ = ["ItemKNN", "ItemKNNConfig", "KNNBase", "KNNConfig", "UserKNN", "UserKNNConfig"]

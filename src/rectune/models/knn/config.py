"""Hyperparameters of the neighbourhood models `UserKNN` and `ItemKNN` (see `knn`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rectune.config import ConfigBase
from rectune.models.baselines import BaselineConfig

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

"""Side-by-side runs against the peer libraries (Surprise, implicit, River) on identical data.

The parity tests (``tests/parity``) and the benchmark scripts both feed the same row indices to
rectune and to the peer, then score both with the same code, so any difference comes from the
models and never from the folds or the metric. The peers are imported only inside the functions
that need them (they ship in the ``test`` extra, not as dependencies of rectune).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.data import Interactions
from rectune.evaluation import mean_metrics, ranking_metrics, split_rows
from rectune.models import create_model
from rectune.training import TrainConfig

#: River's ``reco.BiasedMF`` tutorial settings (the SVDConfig.from_river_biased_mf defaults).
RIVER_TUTORIAL: dict[str, float] = {
    "n_factors": 10,
    "bias_lr": 0.025,
    "latent_lr": 0.05,
    "sigma": 0.1,
    "seed": 73,
}


def kfold(data: Interactions, folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train rows, test rows)`` of each fold: rectune's seeded k-fold split, for both sides."""
    return list(split_rows(data, "kfold", folds=folds, seed=seed))


def rating_errors(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of rating estimates."""
    err = np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def rectune_ratings(
    name: str,
    params: dict[str, Any],
    data: Interactions,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """Estimates of a rectune model (by CLI name) fitted on ``train_rows``, for ``test_rows``."""
    train, test = data.subset(train_rows), data.subset(test_rows)
    model = create_model(name, **params).fit(train, train=TrainConfig(seed=seed))
    return np.asarray(model.predict(test.user_ids, test.item_ids), dtype=np.float64)


def surprise_ratings(
    algo: Any, data: Interactions, train_rows: np.ndarray, test_rows: np.ndarray
) -> np.ndarray:
    """Estimates of a Surprise algorithm fitted on ``train_rows`` (raw ids), for ``test_rows``.

    The rating scale is the data's value range, as rectune clips to it.
    """
    import pandas as pd
    import surprise

    frame = pd.DataFrame({"u": data.user_ids, "i": data.item_ids, "r": data.values})
    scale = (float(data.values.min()), float(data.values.max()))
    reader = surprise.Reader(rating_scale=scale)
    trainset = surprise.Dataset.load_from_df(frame.iloc[train_rows], reader).build_full_trainset()
    algo.fit(trainset)
    test = frame.iloc[test_rows]
    return np.array(
        [algo.predict(u, i).est for u, i in zip(test.u.tolist(), test.i.tolist(), strict=True)]
    )


class RankingSplit:
    """Implicit feedback: each user's latest ``test_size`` of rows held out, every row weight 1.

    ``user_items`` is the users x training-items CSR matrix implicit fits on (column ``c`` is
    dataset item ``items[c]``); ``score`` computes mean NDCG@k and recall@k of top lists given
    as dataset item indices (-1: no item), whoever produced them.
    """

    def __init__(self, data: Interactions, test_size: float = 0.2, k: int = 10) -> None:
        data = data.binarize()
        ((train_rows, test_rows),) = split_rows(data, "user-temporal", test_size=test_size)
        self.k = k
        self.data, self.train, self.test = data, data.subset(train_rows), data.subset(test_rows)
        self.items = np.unique(self.train.items)
        self.users = np.unique(self.test.users)
        col = np.full(data.n_items, -1)
        col[self.items] = np.arange(len(self.items))
        self.col = col
        tr = self.train
        self.user_items = sp.csr_matrix(
            (np.ones(len(tr), np.float32), (tr.users, col[tr.items])),
            shape=(data.n_users, len(self.items)),
        )
        self.user_items.sum_duplicates()
        self.user_items.data[:] = 1.0
        te = self.test
        rel = sp.csr_matrix(
            (np.ones(len(te)), (te.users, te.items)), shape=(data.n_users, data.n_items)
        )
        self.relevant = rel[self.users]

    def score(self, recommended: np.ndarray) -> dict[str, float]:
        """Mean NDCG@k and recall@k over the evaluated users."""
        names = [f"ndcg@{self.k}", f"recall@{self.k}"]
        return mean_metrics(ranking_metrics(recommended, self.relevant, names))

    def rectune_top(self, model: Any) -> np.ndarray:
        """Top-k dataset item indices of a fitted rectune model (seen items excluded)."""
        ids, scores = model.recommend(self.data.user_map.ids[self.users], n=self.k)
        rec = self.data.item_map.index_of(ids.ravel()).reshape(ids.shape)
        rec[~np.isfinite(scores)] = -1
        return rec

    def implicit_top(self, model: Any) -> np.ndarray:
        """Top-k dataset item indices of a fitted implicit model (liked items filtered)."""
        ids, _ = model.recommend(
            self.users, self.user_items[self.users], N=self.k, filter_already_liked_items=True
        )
        return np.where(ids >= 0, self.items[np.maximum(ids, 0)], -1)

    def popularity_top(self) -> np.ndarray:
        """Top-k by training counts (ties by column), the reference for rectune's popularity."""
        counts = np.asarray(self.user_items.sum(axis=0)).ravel()
        scores = np.tile(counts, (len(self.users), 1)).astype(float)
        rows = self.user_items[self.users]
        scores[np.repeat(np.arange(len(self.users)), np.diff(rows.indptr)), rows.indices] = -np.inf
        return self.items[np.argsort(-scores, axis=1, kind="stable")[:, : self.k]]


def river_prequential(
    users: list[Any],
    items: list[Any],
    values: np.ndarray,
    *,
    n_factors: int = 10,
    bias_lr: float = 0.025,
    latent_lr: float = 0.05,
    l2_bias: float = 0.0,
    l2_latent: float = 0.0,
    sigma: float = 0.1,
    seed: int = 73,
    clip: tuple[float, float] = (1.0, 5.0),
) -> np.ndarray:
    """River ``reco.BiasedMF`` predictions, predict then learn, one event at a time.

    Zero-initialised biases and Normal(0, ``sigma``) latents as in River's tutorial; the
    predictions are clipped to ``clip`` (the tutorial's ``PredClipper``).
    """
    from river import optim, reco

    model = reco.BiasedMF(
        n_factors=n_factors,
        bias_optimizer=optim.SGD(bias_lr),
        latent_optimizer=optim.SGD(latent_lr),
        weight_initializer=optim.initializers.Zeros(),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=sigma, seed=seed),
        l2_bias=l2_bias,
        l2_latent=l2_latent,
    )
    lo, hi = clip
    out = np.empty(len(values))
    for t, (u, i, y) in enumerate(zip(users, items, np.asarray(values).tolist(), strict=True)):
        out[t] = min(hi, max(lo, model.predict_one(u, i)))
        model.learn_one(u, i, y)
    return out


__all__ = [
    "RIVER_TUTORIAL",
    "RankingSplit",
    "kfold",
    "rating_errors",
    "rectune_ratings",
    "river_prequential",
    "surprise_ratings",
]

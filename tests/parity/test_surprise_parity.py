"""rectune vs Surprise 1.1.5 on identical folds: the claims of benchmarks/RESULTS.md (issue 2).

Both libraries get the same train/test rows (rectune's seeded 5-fold split) and are scored by
the same code. The claims defended here:

- BaselineOnly and KNNBaseline (item, pearson_baseline) reproduce Surprise's predictions;
- SVD, NMF (both datasets) and SVD++ (ML-100K) have a 5-fold mean RMSE no worse than
  Surprise's + 0.003. Single folds scatter by about +-0.005 around the mean, so the claim and
  the test are on the 5-fold mean, as in RESULTS.md.

SVD++ on ml-latest-small is not run here: Surprise's SVDpp takes 40-50 s per fold there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import surprise

from rectune.testing.peers import kfold, rating_errors, rectune_ratings, surprise_ratings

pytestmark = pytest.mark.realdata

DATASETS = ["ml-100k", "ml-latest-small"]
#: RESULTS.md: "RMSE no worse than Surprise + 0.003".
RMSE_TOLERANCE = 0.003

#: name -> (rectune model, params, Surprise factory taking a seed); as bench_surprise.py.
PAIRS: dict[str, tuple[str, dict, Callable[[int], object]]] = {
    "BaselineOnly": ("baseline", {}, lambda seed: surprise.BaselineOnly(verbose=False)),
    "KNNBaseline": (
        "item-knn",
        {"similarity": "pearson_baseline", "centering": "baseline"},
        lambda seed: surprise.KNNBaseline(
            sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
        ),
    ),
    # Surprise's SGD visits ratings in data order every epoch; so does this pair.
    "SVD": ("svd", {"shuffle": False}, lambda seed: surprise.SVD(random_state=seed)),
    "SVD++": ("svdpp", {}, lambda seed: surprise.SVDpp(random_state=seed)),
    "NMF": ("nmf", {}, lambda seed: surprise.NMF(random_state=seed)),
}


def _both(algo: str, data, folds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test values, rectune's and Surprise's estimates, concatenated over ``folds``."""
    name, params, factory = PAIRS[algo]
    truth, ours, theirs = [], [], []
    for train_rows, test_rows in folds:
        truth.append(data.values[test_rows])
        ours.append(rectune_ratings(name, params, data, train_rows, test_rows, seed=0))
        theirs.append(surprise_ratings(factory(0), data, train_rows, test_rows))
    return np.concatenate(truth), np.concatenate(ours), np.concatenate(theirs)


@pytest.mark.parametrize("name", DATASETS)
def test_baseline_only_reproduces_surprise(name, dataset, parity_figures) -> None:
    data = dataset(name)
    truth, ours, theirs = _both("BaselineOnly", data, kfold(data))
    rmse_o, rmse_t = rating_errors(ours, truth)["rmse"], rating_errors(theirs, truth)["rmse"]
    gap = np.abs(ours - theirs).max()
    parity_figures(f"RMSE {rmse_o:.4f} vs {rmse_t:.4f}, max |diff| {gap:.1e}")
    # measured: equal to the last bit on every fold (max |diff| 0)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("name", DATASETS)
def test_item_knn_baseline_reproduces_surprise(name, dataset, parity_figures) -> None:
    """One fold (Surprise's KNNBaseline is the slow side: 2-5 s per fold)."""
    data = dataset(name)
    truth, ours, theirs = _both("KNNBaseline", data, kfold(data)[:1])
    diff = np.abs(ours - theirs)
    rmse_o, rmse_t = rating_errors(ours, truth)["rmse"], rating_errors(theirs, truth)["rmse"]
    parity_figures(
        f"RMSE {rmse_o:.5f} vs {rmse_t:.5f}, {int((diff > 1e-6).sum())} of {len(diff)} "
        f"estimates differ by > 1e-6"
    )
    # Equal to float precision except where two neighbours tie for the k-th place and the
    # libraries keep different ones: measured 0-2 of about 20,000 estimates per fold.
    assert (diff > 1e-6).sum() <= 5
    assert abs(rmse_o - rmse_t) < 1e-4


@pytest.mark.parametrize(
    ("name", "algo"),
    [
        ("ml-100k", "SVD"),
        ("ml-100k", "NMF"),
        ("ml-latest-small", "SVD"),
        ("ml-latest-small", "NMF"),
        pytest.param("ml-100k", "SVD++", marks=pytest.mark.slow),
    ],
)
def test_rmse_no_worse_than_surprise(name, algo, dataset, parity_figures) -> None:
    """5-fold mean RMSE, seed 0 on both sides (measured diffs: ML-100K SVD +0.0015, NMF +0.0004,
    SVD++ +0.0017; ml-latest-small SVD -0.0045, NMF +0.0028)."""
    data = dataset(name)
    folds = kfold(data)
    name_, params, factory = PAIRS[algo]
    ours, theirs = [], []
    for train_rows, test_rows in folds:
        truth = data.values[test_rows]
        est = rectune_ratings(name_, params, data, train_rows, test_rows, seed=0)
        ours.append(rating_errors(est, truth)["rmse"])
        est = surprise_ratings(factory(0), data, train_rows, test_rows)
        theirs.append(rating_errors(est, truth)["rmse"])
    mean_o, mean_t = float(np.mean(ours)), float(np.mean(theirs))
    parity_figures(
        f"5-fold RMSE {mean_o:.4f} vs {mean_t:.4f} ({mean_o - mean_t:+.4f}; "
        f"per fold {', '.join(f'{o - t:+.4f}' for o, t in zip(ours, theirs, strict=True))})"
    )
    assert mean_o <= mean_t + RMSE_TOLERANCE

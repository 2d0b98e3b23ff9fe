from __future__ import annotations

import numpy as np

from rectune import Interactions
from rectune.models.baselines import Baseline, Popularity
from rectune.testing import low_rank


def _reference_als(users, items, r, n_users, n_items, reg_u, reg_i, epochs):
    """Surprise's baseline_only ALS written as plain loops."""
    mu = r.mean()
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(epochs):
        for i in range(n_items):
            rows = items == i
            bi[i] = np.sum(r[rows] - mu - bu[users[rows]]) / (reg_i + rows.sum())
        for u in range(n_users):
            rows = users == u
            bu[u] = np.sum(r[rows] - mu - bi[items[rows]]) / (reg_u + rows.sum())
    return mu, bu, bi


def test_als_matches_reference() -> None:
    data = low_rank(n_users=15, n_items=12, density=0.5)
    model = Baseline(epochs=7).fit(data)
    mu, bu, bi = _reference_als(
        data.users, data.items, data.values, data.n_users, data.n_items, 15.0, 10.0, 7
    )
    np.testing.assert_allclose(model.user_bias_, bu, atol=1e-12)
    np.testing.assert_allclose(model.item_bias_, bi, atol=1e-12)
    assert model.global_mean_ == mu


def test_sgd_lowers_error_and_fallback_uses_known_bias() -> None:
    data = low_rank()
    model = Baseline(method="sgd", epochs=20).fit(data)
    pred = model.predict(data.user_ids, data.item_ids)
    assert np.sqrt(np.mean((pred - data.values) ** 2)) < np.std(data.values)
    item = data.item_ids[0]
    idx = model.item_map_.index_of([item])[0]
    est = model.predict([-5], [item])[0]
    assert np.isclose(est, np.clip(model.global_mean_ + model.item_bias_[idx], 1, 5))


def test_popularity_ranks_by_count() -> None:
    data = Interactions.from_raw([1, 2, 3, 1, 2, 1], ["a", "a", "a", "b", "b", "c"], [1] * 6)
    ids, _ = Popularity().fit(data).recommend([99], n=3)
    assert ids[0].tolist() == ["a", "b", "c"]

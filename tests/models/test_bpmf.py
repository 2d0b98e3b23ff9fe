from __future__ import annotations

import numpy as np
import pytest

from rectune.errors import ConfigError
from rectune.models.baselines import Baseline
from rectune.models.mf import BPMF
from rectune.testing import low_rank


def _rmse(model, data) -> float:
    return float(np.sqrt(np.mean((model.predict(data.user_ids, data.item_ids) - data.values) ** 2)))


def test_recovers_low_rank_structure_better_than_biases() -> None:
    data = low_rank(n_users=80, n_items=60, rank=3, density=0.4, noise=0.1, seed=1)
    rng = np.random.default_rng(0)
    test = rng.random(len(data)) < 0.2
    train_d, test_d = data.subset(~test), data.subset(test)
    bpmf = BPMF(embedding_size=4, iterations=60, burn_in=20, keep=20).fit(train_d)
    base = Baseline().fit(train_d)
    assert _rmse(bpmf, test_d) < 0.8 * _rmse(base, test_d)


def test_prediction_is_the_average_over_samples() -> None:
    data = low_rank()
    model = BPMF(embedding_size=3, iterations=10, burn_in=2, keep=4).fit(data)
    u = model.user_map_.index_of(data.user_ids[:30])
    i = model.item_map_.index_of(data.item_ids[:30])
    pu, qi = model.user_samples_[:, u], model.item_samples_[:, i]
    ref = model.global_mean_ + (pu[..., 0] + qi[..., 0] + (pu[..., 1:] * qi[..., 1:]).sum(-1)).mean(
        0
    )
    np.testing.assert_allclose(model._score_pairs(u, i), ref, rtol=1e-5)
    full = model._score_users(u[:3])
    np.testing.assert_allclose(full[np.arange(3), i[:3]], ref[:3], rtol=1e-5)


def test_burn_in_must_leave_samples() -> None:
    with pytest.raises(ConfigError, match="burn_in"):
        BPMF(iterations=5, burn_in=5).fit(low_rank())

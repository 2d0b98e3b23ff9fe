"""Fine-tuning, partial_fit and per-event learning of the rating factor models."""

from __future__ import annotations

import numpy as np
import pytest

from rectune import Interactions
from rectune.errors import ConfigError
from rectune.models.mf import BPMF, FOLD_IN_REG, NMF, SVD, SVDConfig, SVDpp
from rectune.testing import low_rank
from rectune.training.config import TrainConfig


def _rmse(model, data: Interactions) -> float:
    return float(np.sqrt(np.mean((model.predict(data.user_ids, data.item_ids) - data.values) ** 2)))


def _drift(seed: int = 0) -> tuple[Interactions, Interactions]:
    """Old ratings from one low-rank model; new ratings of a third of the users from another."""
    rng = np.random.default_rng(seed)
    n_u, n_i, k = 60, 40, 3
    p, q = rng.normal(0, 0.7, (n_u, k)), rng.normal(0, 0.7, (n_i, k))
    u, i = np.nonzero(rng.random((n_u, n_i)) < 0.5)
    old = Interactions.from_raw(u, i, np.clip(3 + np.sum(p[u] * q[i], 1), 1, 5))
    q2 = rng.normal(0, 0.7, (n_i, k))  # tastes drift: new item factors
    movers = np.arange(n_u) < n_u // 3
    u2, i2 = np.nonzero((rng.random((n_u, n_i)) < 0.8) & movers[:, None])
    new = Interactions.from_raw(u2, i2, np.clip(1.5 + np.sum(p[u2] * q2[i2], 1), 1, 5))
    return old, new


@pytest.mark.parametrize("biased", [True, False])
def test_fold_in_of_new_user_is_closed_form_ridge(biased: bool) -> None:
    data = low_rank()
    model = SVD(embedding_size=4, epochs=20, biased=biased).fit(data)
    items = np.unique(data.item_ids)[[0, 3, 5, 8, 13, 21]]
    values = np.array([5.0, 4, 1, 2, 5, 3])
    idx = model.item_map_.index_of(items)
    Q, bi = model.item_factors_.astype(float)[idx], model.item_bias_.astype(float)[idx]
    mu = model.global_mean_ if biased else 0.0
    model.partial_fit(Interactions.from_raw(["newbie"] * 6, items, values))
    n, reg = 6, model.config.reg
    x = np.column_stack([np.ones(n), Q]) if biased else Q
    t = values - mu - bi if biased else values
    w = np.linalg.solve(x.T @ x + (n * reg + FOLD_IN_REG) * np.eye(x.shape[1]), x.T @ t)
    u = model.user_map_.index_of(["newbie"])[0]
    np.testing.assert_allclose(model.user_factors_[u], w[-4:], rtol=1e-4, atol=1e-5)
    if biased:
        np.testing.assert_allclose(model.user_bias_[u], w[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SVD(embedding_size=4, epochs=20),
        lambda: SVDpp(embedding_size=4, epochs=20),
        lambda: NMF(embedding_size=3, epochs=30),
    ],
)
def test_finetune_lowers_error_on_the_new_data(make) -> None:
    old, new = _drift()
    model = make().fit(old)
    before = _rmse(model, new)
    # NMF's multiplicative updates take no step size: asking one is refused (issue 7).
    lr = {"learning_rate": 0.02} if "learning_rate" in model.honoured_settings("finetune") else {}
    model.finetune(new, train=TrainConfig(epochs=15, **lr))
    assert _rmse(model, new) < 0.9 * before


def test_l2sp_retains_old_accuracy_better_than_plain() -> None:
    old, new = _drift()
    train = TrainConfig(epochs=30, learning_rate=0.03)
    plain = SVD(embedding_size=4, epochs=40, learning_rate=0.02).fit(old)
    anchored = SVD(embedding_size=4, epochs=40, learning_rate=0.02).fit(old)
    plain.finetune(new, train=train)
    anchored.finetune(new, train=train, strategy={"l2sp": 5.0})
    assert _rmse(anchored, old) < _rmse(plain, old)
    # ... while still learning the new data better than not fine-tuning at all.
    parent = SVD(embedding_size=4, epochs=40, learning_rate=0.02).fit(old)
    assert _rmse(anchored, new) < _rmse(parent, new)


def _reference_prequential(users, items, values, k, lr_b, lr_f, sigma, seed):
    """River's BiasedMF semantics in plain Python (running mean, lazy Normal init)."""
    rs = np.random.RandomState(seed)
    bu: dict = {}
    bi: dict = {}
    pu: dict = {}
    qi: dict = {}
    mean, n = 0.0, 0
    out = []
    for u, i, y in zip(users, items, values, strict=True):
        if u not in pu:
            pu[u], bu[u] = rs.normal(0, sigma, k), 0.0
        if i not in qi:
            qi[i], bi[i] = rs.normal(0, sigma, k), 0.0
        out.append(min(5.0, max(1.0, mean + bu[u] + bi[i] + pu[u] @ qi[i])))
        n += 1
        mean += (y - mean) / n
        err = y - (mean + bu[u] + bi[i] + pu[u] @ qi[i])
        bu[u] += lr_b * err
        bi[i] += lr_b * err
        pu[u], qi[i] = pu[u] + lr_f * err * qi[i], qi[i] + lr_f * err * pu[u]
    return np.array(out)


def test_prequential_equals_python_reference_and_learn_one() -> None:
    data = low_rank(n_users=30, n_items=20, density=0.5)
    data = data.subset(np.argsort(data.timestamps, kind="stable"))
    cfg = SVDConfig.from_river_biased_mf(n_factors=4, bias_lr=0.02, latent_lr=0.05)
    fast = SVD(cfg).prequential(data, clip=(1.0, 5.0), seed=5)
    ref = _reference_prequential(
        data.user_ids.tolist(), data.item_ids.tolist(), data.values, 4, 0.04, 0.1, 0.1, 5
    )
    np.testing.assert_allclose(fast, ref, atol=1e-5)
    # The per-event API continues the same stream and gives the same predictions.
    model = SVD(cfg)
    first = model.prequential(data.subset(np.arange(1)), clip=(1.0, 5.0), seed=5)
    rest = [model.predict_learn_one(u, i, y) for u, i, y in zip(
        data.user_ids[1:], data.item_ids[1:], data.values[1:], strict=True
    )]  # fmt: skip
    lo = np.minimum.accumulate(data.values)[:-1]
    hi = np.maximum.accumulate(data.values)[:-1]
    unclipped = (ref[1:] > lo) & (ref[1:] < hi)  # the per-event path clips to the running range
    np.testing.assert_allclose(first, ref[:1], atol=1e-5)
    np.testing.assert_allclose(np.array(rest)[unclipped], ref[1:][unclipped], atol=1e-5)
    assert model.seen_.nnz == len(data) and model.item_popularity_.sum() == len(data)


def test_learn_one_on_a_fitted_model_updates_only_its_rows() -> None:
    data = low_rank()
    model = SVD(embedding_size=4, epochs=5).fit(data)
    before_p, before_q = model.user_factors_.copy(), model.item_factors_.copy()
    user, item = data.user_ids[0], data.item_ids[1]
    u, i = model.user_map_.index_of([user])[0], model.item_map_.index_of([item])[0]
    model.learn_one(user, item, 5.0)
    changed_u = np.flatnonzero((model.user_factors_ != before_p).any(1))
    changed_i = np.flatnonzero((model.item_factors_ != before_q).any(1))
    assert changed_u.tolist() == [u] and changed_i.tolist() == [i]
    model.learn_one("someone-new", item, 4.0)
    assert "someone-new" in model.user_map_ and model.seen_.shape[0] == len(model.user_map_)


def test_strategies_a_model_cannot_honour_are_clear_errors() -> None:
    old, new = _drift()
    with pytest.raises(ConfigError, match="clip_norm"):
        NMF(embedding_size=2, epochs=5).fit(old).finetune(new, strategy={"clip_norm": 1.0})
    bpmf = BPMF(embedding_size=2, iterations=6, burn_in=2, keep=2).fit(old)
    with pytest.raises(ConfigError, match="l2sp"):
        bpmf.finetune(new, strategy={"l2sp": 1.0})


def test_bpmf_partial_fit_folds_in_a_new_user() -> None:
    old, _ = _drift()
    model = BPMF(embedding_size=2, iterations=20, burn_in=5, keep=4).fit(old)
    items = np.unique(old.item_ids)[:8]
    likes = np.where(np.arange(8) % 2 == 0, 5.0, 1.0)
    model.partial_fit(Interactions.from_raw(["fan"] * 8, items, likes))
    pred = model.predict(["fan"] * 8, items)
    assert np.corrcoef(pred, likes)[0, 1] > 0.5

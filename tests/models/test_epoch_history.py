"""Per-epoch history of SVD++, NMF, BPMF, ALS and BPR: one entry per epoch, a real loss, and a
scorer of the model as it is at that epoch (what `rectune tune` prunes on)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rectune import Interactions
from rectune.models import create_model
from rectune.testing import low_rank
from rectune.training import TrainConfig
from rectune.training.epochs import observe_epochs

#: Small configs of every model this covers, and the number of epochs (sweeps) each runs.
CONFIGS = {
    "svdpp": ({"embedding_size": 4, "epochs": 6}, 6),
    "nmf": ({"embedding_size": 15, "epochs": 8}, 8),
    "bpmf": ({"embedding_size": 3, "iterations": 12, "burn_in": 4, "keep": 4}, 12),
    "als": ({"embedding_size": 4, "epochs": 5, "reg": 0.1, "alpha": 2.0}, 5),
    "bpr": ({"embedding_size": 4, "epochs": 12, "learning_rate": 0.05}, 12),
}
IMPLICIT = ("als", "bpr")


@pytest.fixture(scope="module")
def ratings() -> Interactions:
    return low_rank(n_users=40, n_items=30, density=0.4)


@pytest.fixture(scope="module")
def weights() -> Interactions:
    """Implicit weights (1..3) with a few negative ones (ALS: confidence without preference)."""
    rng = np.random.default_rng(1)
    mask = rng.random((40, 30)) < 0.3
    mask[np.arange(40), np.arange(40) % 30] = True
    u, i = np.nonzero(mask)
    w = rng.integers(1, 4, len(u)).astype(float)
    w[::17] = -1.0
    return Interactions.from_raw(u, i, w, np.arange(len(u)), kind="weight")


def _data(name: str, ratings: Interactions, weights: Interactions) -> Interactions:
    if name == "bpr":  # BPR reads which items a user has, not their weights
        return Interactions.from_raw(
            weights.user_map.ids[weights.users], weights.item_map.ids[weights.items], kind="weight"
        )
    return weights if name in IMPLICIT else ratings


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_finite_entry_per_epoch_and_the_loss_falls(name, ratings, weights) -> None:
    params, epochs = CONFIGS[name]
    model = create_model(name, **params).fit(_data(name, ratings, weights))
    history = model.fit_info_["epoch_history"]
    assert [e["epoch"] for e in history] == list(range(1, epochs + 1))
    losses = [e["loss"] for e in history]
    assert all(math.isfinite(v) and v >= 0 for v in losses), losses
    assert losses[-1] < losses[0], losses
    assert model.epoch_history_ == history


@pytest.mark.parametrize("name", list(CONFIGS))
def test_observer_gets_the_model_of_that_epoch_and_changes_nothing(name, ratings, weights) -> None:
    """The scorer of the last epoch scores as the fitted model does; observing (and scoring
    every epoch) leaves the fit bit-identical to an unobserved one."""
    params, epochs = CONFIGS[name]
    data = _data(name, ratings, weights)
    rng = np.random.default_rng(0)
    users = rng.integers(0, data.n_users, 50)
    items = rng.integers(0, data.n_items, 50)
    seen: list[tuple[int, float, np.ndarray]] = []
    holder = []

    def observe(epoch, loss, score):
        m = holder[0]
        u, i = (
            m.user_map_.index_of(data.user_map.ids[users]),
            m.item_map_.index_of(data.item_map.ids[items]),
        )
        seen.append((epoch, loss, score(u.astype(np.int64), i.astype(np.int64))))

    watched = create_model(name, **params)
    holder.append(watched)
    with observe_epochs(observe):
        watched.fit(data, train=TrainConfig(seed=4))
    plain = create_model(name, **params).fit(data, train=TrainConfig(seed=4))
    assert [s[0] for s in seen] == list(range(epochs))
    assert [s[1] for s in seen] == [e["loss"] for e in watched.epoch_history_]
    raw = (data.user_map.ids[users], data.item_map.ids[items])
    np.testing.assert_allclose(seen[-1][2], watched.score(*raw), rtol=1e-5, atol=1e-5)
    assert not np.allclose(seen[0][2], seen[-1][2])  # earlier epochs: an earlier model
    for g in plain.state_names:
        np.testing.assert_array_equal(getattr(watched, g + "_"), getattr(plain, g + "_"))
    assert watched.epoch_history_ == plain.epoch_history_


def test_als_loss_is_hu_et_al_objective_after_each_sweep(weights) -> None:
    """The value after sweep e is the full weighted loss (every pair, both penalties) of the
    model fitted for e sweeps, as `ALS.training_loss` computes it with an explicit pass."""
    params, epochs = CONFIGS["als"]
    history = create_model("als", **params).fit(weights).epoch_history_
    for e in (1, 3, epochs):
        m = create_model("als", **{**params, "epochs": e}).fit(weights)
        assert history[e - 1]["loss"] == pytest.approx(m.training_loss(), rel=1e-5)


def test_nmf_and_bpmf_losses_are_training_rmse_of_a_known_model(ratings) -> None:
    """NMF: the RMSE of the estimates each epoch starts from (epoch e+1: the model of e
    epochs); BPMF: the RMSE of each sweep's sample (the last sweep's is the last kept)."""

    def rmse(est: np.ndarray, v: np.ndarray) -> float:
        return float(np.sqrt(np.mean((est - v) ** 2)))

    u, i, v = ratings.users, ratings.items, ratings.values
    nmf = create_model("nmf", embedding_size=4, epochs=5).fit(ratings).epoch_history_
    three = create_model("nmf", embedding_size=4, epochs=3).fit(ratings)
    uu, ii = (
        three.user_map_.index_of(ratings.user_map.ids[u]),
        three.item_map_.index_of(ratings.item_map.ids[i]),
    )
    est = np.einsum("ij,ij->i", three.user_factors_[uu], three.item_factors_[ii])
    assert nmf[3]["loss"] == pytest.approx(rmse(est, v), rel=1e-9)
    bpmf = create_model("bpmf", **CONFIGS["bpmf"][0]).fit(ratings)
    U, V = bpmf.user_samples_[-1].astype(float), bpmf.item_samples_[-1].astype(float)
    uu, ii = (
        bpmf.user_map_.index_of(ratings.user_map.ids[u]),
        bpmf.item_map_.index_of(ratings.item_map.ids[i]),
    )
    est = bpmf.global_mean_ + U[uu, 0] + V[ii, 0] + np.einsum("ij,ij->i", U[uu, 1:], V[ii, 1:])
    assert bpmf.epoch_history_[-1]["loss"] == pytest.approx(rmse(est, v), rel=1e-5)


def test_bpr_loss_is_the_mean_log_loss_of_the_triples(weights) -> None:
    """Near-zero initial factors score every triple ~0 (loss ln 2); training lowers it."""
    data = _data("bpr", None, weights)  # type: ignore[arg-type]
    history = create_model("bpr", embedding_size=4, epochs=1, learning_rate=1e-6).fit(data)
    assert history.epoch_history_[0]["loss"] == pytest.approx(math.log(2), abs=1e-3)
    trained = create_model("bpr", embedding_size=4, epochs=100, learning_rate=0.05).fit(data)
    assert trained.epoch_history_[-1]["loss"] < 0.9 * math.log(2)

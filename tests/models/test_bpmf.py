from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rectune.errors import ConfigError
from rectune.models.baselines import Baseline
from rectune.models.mf import BPMF
from rectune.models.mf._bpmf_kernels import csr_residuals, implicit_sweep
from rectune.testing import CHECKS, low_rank, two_clusters


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


def _random_problem(seed: int, d: int):
    """A small random ratings matrix with both CSR orientations and random rows."""
    rng = np.random.default_rng(seed)
    mask = rng.random((12, 9)) < 0.5
    mask[0, :] = False  # a user without ratings: scale 0, never touched
    u, i = np.nonzero(mask)
    by_user = sp.csr_matrix((rng.uniform(1, 5, len(u)), (u, i)), shape=mask.shape)
    by_item = by_user.T.tocsr()
    counts = np.diff(by_user.indptr)
    scale = np.where(counts > 0, 1 / np.sqrt(np.maximum(counts, 1)), 0.0)
    free = rng.normal(0, 0.3, (12, d))
    items = rng.normal(0, 0.3, (9, d))
    fac = rng.normal(0, 0.3, (9, d))
    binary = by_user.copy()
    binary.data[:] = 1.0
    agg = scale[:, None] * (binary @ fac)
    return by_user, by_item, binary, scale, free, items, fac, agg


def test_implicit_sweep_keeps_rows_sums_and_residuals_exact() -> None:
    by_user, by_item, binary, scale, free, items, fac, agg = _random_problem(0, d=4)
    own = free + agg
    mu = 3.0
    resid = csr_residuals(by_user.indptr, by_user.indices, by_user.data, mu, own, items)
    z = np.random.default_rng(1).standard_normal(fac.shape)
    implicit_sweep(by_user.indptr, by_user.indices, resid, items, own, agg, scale, fac,
                   by_item.indptr, by_item.indices, np.zeros(4), np.ones(4), 2.0, z)  # fmt: skip
    np.testing.assert_allclose(agg, scale[:, None] * (binary @ fac), atol=1e-10)
    np.testing.assert_allclose(own - agg, free, atol=1e-10)  # only the implicit part moved
    fresh = csr_residuals(by_user.indptr, by_user.indices, by_user.data, mu, own, items)
    np.testing.assert_allclose(resid, fresh, atol=1e-10)


def test_noise_free_implicit_sweeps_converge_to_the_ridge_solution() -> None:
    """With z = 0 each draw is its conditional mode: Gauss-Seidel on the ridge problem in the
    implicit bias terms (d = 1), whose exact solution numpy gives."""
    by_user, by_item, binary, scale, free, items, fac, agg = _random_problem(2, d=1)
    own = free + agg
    mu, alpha, prec, mean = 3.0, 4.0, np.array([0.5]), np.array([0.2])
    resid = csr_residuals(by_user.indptr, by_user.indices, by_user.data, mu, own, items)
    coo = by_user.tocoo()
    target = resid + agg[coo.row, 0]  # residual without the implicit term
    x = (scale[:, None] * binary.toarray())[coo.row]  # d pred / d fac_j for each rating
    exact = np.linalg.solve(
        alpha * x.T @ x + prec[0] * np.eye(9), alpha * x.T @ target + prec[0] * mean[0]
    )
    z = np.zeros(fac.shape)
    for _ in range(300):
        implicit_sweep(by_user.indptr, by_user.indices, resid, items, own, agg, scale, fac,
                       by_item.indptr, by_item.indices, mean, prec, alpha, z)  # fmt: skip
    np.testing.assert_allclose(fac[:, 0], exact, atol=1e-6)


@pytest.mark.parametrize("implicit", ["user", "both"])
def test_implicit_terms_fit_low_rank_data(implicit: str) -> None:
    data = low_rank(n_users=80, n_items=60, rank=3, density=0.4, noise=0.1, seed=1)
    test = np.random.default_rng(0).random(len(data)) < 0.2
    train_d, test_d = data.subset(~test), data.subset(test)
    params = {"embedding_size": 4, "iterations": 60, "burn_in": 20, "keep": 20}
    plain = BPMF(**params).fit(train_d)
    model = BPMF(**params, implicit=implicit).fit(train_d)
    assert _rmse(model, test_d) < 0.8 * _rmse(Baseline().fit(train_d), test_d)
    assert _rmse(model, test_d) < 1.2 * _rmse(plain, test_d)
    assert model.user_samples_.shape == plain.user_samples_.shape  # summed rows, same layout


@pytest.mark.parametrize("check", list(CHECKS))
def test_implicit_bpmf_passes_the_conformance_kit(check: str) -> None:
    make = lambda: BPMF(embedding_size=3, iterations=12, burn_in=4, keep=4, implicit="both")  # noqa: E731
    CHECKS[check](make, two_clusters())

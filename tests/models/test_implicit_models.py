"""ALS, BPR and EASE against dense numpy references and data with a known answer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rectune import Interactions
from rectune.models.implicit import ALS, BPR, EASE, ease_solve
from rectune.testing import two_clusters
from rectune.training import TrainConfig


def _weights(n_users: int = 25, n_items: int = 18, density: float = 0.35, seed: int = 0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), np.arange(n_users) % n_items] = True  # every user and item present
    mask[np.arange(n_items) % n_users, np.arange(n_items)] = True
    u, i = np.nonzero(mask)
    w = rng.integers(1, 4, len(u)).astype(float)
    return Interactions.from_raw(u, i, w, np.arange(len(u)), kind="weight")


def _dense(model) -> np.ndarray:
    return model.seen_.toarray()


def _exact_rows(R: np.ndarray, Y: np.ndarray, reg: float, alpha: float) -> np.ndarray:
    """Hu et al.'s exact row solves: (Y^T C_u Y + reg I) x = Y^T C_u p_u for every row of R."""
    C = 1.0 + alpha * np.abs(R)
    p = (R > 0).astype(float)
    out = np.empty((R.shape[0], Y.shape[1]))
    for u in range(R.shape[0]):
        A = Y.T @ (C[u][:, None] * Y) + reg * np.eye(Y.shape[1])
        out[u] = np.linalg.solve(A, Y.T @ (C[u] * p[u]))
    return out


def _loss(R, X, Y, reg, alpha) -> float:
    C = 1.0 + alpha * np.abs(R)
    return float(np.sum(C * ((R > 0) - X @ Y.T) ** 2) + reg * (np.sum(X**2) + np.sum(Y**2)))


# ------------------------------------------------------------------------------------------ ALS
def test_als_loss_decreases_and_matches_dense_loss() -> None:
    data = _weights()
    losses = []
    for epochs in (1, 2, 4, 8):
        m = ALS(embedding_size=4, epochs=epochs, alpha=2.0, reg=0.1).fit(data)
        X, Y = m.user_factors_.astype(float), m.item_factors_.astype(float)
        dense = _loss(_dense(m), X, Y, 0.1, 2.0)
        np.testing.assert_allclose(m.training_loss(), dense, rtol=1e-4)
        losses.append(dense)
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(losses)), losses


def test_als_cg_converges_to_exact_least_squares() -> None:
    """With enough CG steps a user sweep equals the exact solve given the item factors."""
    data = _weights()
    m = ALS(embedding_size=5, epochs=1, cg_steps=60, alpha=3.0, reg=0.2).fit(data)
    R = _dense(m)
    # The last half-sweep solved items given users: compare with the exact item solves.
    expected = _exact_rows(R.T, m.user_factors_.astype(float), 0.2, 3.0)
    np.testing.assert_allclose(m.item_factors_, expected, rtol=2e-3, atol=2e-4)


def test_als_partial_fit_new_user_is_closed_form_fold_in() -> None:
    data = _weights()
    m = ALS(embedding_size=4, epochs=6, alpha=2.0, reg=0.1).fit(data)
    items = data.item_map.ids[[0, 3, 5]]
    m.partial_fit(Interactions.from_raw(["new"] * 3, items, [1.0, 2.0, 1.0], kind="weight"))
    Y = m.item_factors_.astype(float)
    row = np.zeros((1, len(m.item_map_)))
    row[0, m.item_map_.index_of(items)] = [1.0, 2.0, 1.0]
    expected = _exact_rows(row, Y, 0.1, 2.0)[0]
    got = m.user_factors_[m.user_map_.index_of(["new"])[0]]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_als_fold_in_new_items_only_leaves_known_items() -> None:
    data = _weights()
    m = ALS(embedding_size=4, epochs=3, fold_in_items="new").fit(data)
    before = m.item_factors_.copy()
    m.partial_fit(Interactions.from_raw([0, 1], [0, 1], kind="weight"))
    np.testing.assert_array_equal(m.item_factors_, before)


def test_als_finetune_l2sp_is_ridge_toward_parent() -> None:
    """One fine-tune sweep with frozen items: each touched user solves the anchored ridge.

    Confidences come from the user's whole row as the model now knows it (old rows plus the
    new ones): re-solving on the new rows alone made users forget their history.
    """
    data = _weights()
    m = ALS(embedding_size=3, epochs=4, alpha=1.0, reg=0.1).fit(data)
    parent = m.user_factors_.astype(float).copy()
    new = Interactions.from_raw([0, 0, 1], [2, 4, 6], kind="weight")
    m.finetune(new, train=TrainConfig(epochs=1), strategy={"l2sp": 5.0, "freeze": ["item_*"]})
    Y = m.item_factors_.astype(float)
    for u, items in ((0, [2, 4]), (1, [6])):
        idx = m.user_map_.index_of([u])[0]
        row = m.seen_[idx]
        assert set(m.item_map_.index_of(items)) <= set(row.indices)
        c = np.zeros(len(Y))
        c[row.indices] = 1.0 * np.abs(row.data)  # alpha = 1
        A = Y.T @ ((1 + c)[:, None] * Y) + (0.1 + 5.0) * np.eye(3)
        x = np.linalg.solve(A, Y.T @ ((1 + c) * (c > 0)) + 5.0 * parent[idx])
        np.testing.assert_allclose(m.user_factors_[idx], x, rtol=1e-4, atol=1e-5)


def test_als_same_model_on_one_or_two_threads() -> None:
    data = two_clusters().binarize()
    a = ALS(embedding_size=6, epochs=3).fit(data, train=TrainConfig(threads=1))
    b = ALS(embedding_size=6, epochs=3).fit(data, train=TrainConfig(threads=2))
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)


# ------------------------------------------------------------------------------------------ EASE
def _numpy_ease(X: np.ndarray, lam: float) -> np.ndarray:
    P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    B = np.eye(X.shape[1]) - P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    return B


def test_ease_matches_numpy_closed_form() -> None:
    data = _weights()
    m = EASE(reg=3.0).fit(data)
    np.testing.assert_allclose(m.item_similarity_, _numpy_ease(_dense(m), 3.0), atol=1e-5)
    scores = m.score_users_indices(np.arange(4))
    np.testing.assert_allclose(scores, _dense(m)[:4] @ m.item_similarity_, rtol=1e-5, atol=1e-6)
    u, i = data.user_ids[:10], data.item_ids[::-1][:10]
    ui, ii = m.user_map_.index_of(u), m.item_map_.index_of(i)
    np.testing.assert_allclose(m.score(u, i), scores_all(m)[ui, ii], rtol=1e-5, atol=1e-6)


def test_ease_weights_are_c_ordered_after_fit_update_and_load(tmp_path) -> None:
    # regression: the solve returned Fortran-ordered weights, and scoring one user then copied
    # the whole item x item matrix (12 ms per single-user request on ML-100K)
    data = _weights()
    m = EASE(reg=3.0).fit(data)
    assert m.item_similarity_.flags["C_CONTIGUOUS"]
    m.partial_fit(_weights(seed=1))
    assert m.item_similarity_.flags["C_CONTIGUOUS"]
    m.save(tmp_path / "ease")
    assert EASE.load(tmp_path / "ease").item_similarity_.flags["C_CONTIGUOUS"]


def scores_all(m) -> np.ndarray:
    return m.score_users_indices(np.arange(len(m.user_map_)))


def test_ease_l2sp_closed_form() -> None:
    rng = np.random.default_rng(1)
    X = (rng.random((30, 8)) < 0.4).astype(float)
    G, B0 = X.T @ X, _numpy_ease((rng.random((30, 8)) < 0.4).astype(float), 2.0)
    np.testing.assert_allclose(ease_solve(G, 2.0, 0.0, B0), _numpy_ease(X, 2.0), atol=1e-5)
    huge = ease_solve(G, 2.0, 1e12, B0)
    np.testing.assert_allclose(huge, B0, atol=1e-5)
    assert np.all(np.diag(huge) == 0)
    # Against a direct solve of the constrained problem for a moderate mu (column by column).
    mu, lam = 3.0, 2.0
    B = ease_solve(G, lam, mu, B0)
    n = G.shape[0]
    for j in range(n):
        keep = np.arange(n) != j
        A = G[np.ix_(keep, keep)] + (lam + mu) * np.eye(n - 1)
        col = np.linalg.solve(A, G[keep, j] + mu * B0[keep, j])
        np.testing.assert_allclose(B[keep, j], col, atol=1e-5)
        assert B[j, j] == 0


def test_ease_partial_fit_equals_refit() -> None:
    data = _weights()
    old = data.subset(np.arange(len(data)) < 0.7 * len(data))
    new = data.subset(np.arange(len(data)) >= 0.7 * len(data))
    m = EASE(reg=2.0).fit(old).partial_fit(new)
    full = EASE(reg=2.0).fit(data)
    order = m.item_map_.index_of(full.item_map_.ids)
    got = m.item_similarity_[np.ix_(order, order)]
    np.testing.assert_allclose(got, full.item_similarity_, atol=1e-5)
    np.testing.assert_allclose(m.gram_[np.ix_(order, order)], full.gram_, atol=1e-4)


# ------------------------------------------------------------------------------------------ BPR
@pytest.mark.parametrize("negatives", ["uniform", "popularity"])
def test_bpr_ranks_two_clusters(negatives: str) -> None:
    data = two_clusters(n_users=40, n_items=30, density=0.5)
    liked = data.subset(data.values >= 3).binarize()
    m = BPR(embedding_size=8, epochs=60, learning_rate=0.05, negatives=negatives).fit(liked)
    users = np.unique(liked.user_ids)
    ids, _ = m.recommend(users, n=3)
    parity_u = np.array([int(u[1:]) % 2 for u in users])
    parity_i = ((ids - 1) // 10) % 2
    assert np.mean(parity_i == parity_u[:, None]) > 0.9


def test_bpr_finetune_huge_l2sp_and_clip() -> None:
    data = two_clusters().binarize()
    m = BPR(embedding_size=4, epochs=5).fit(data)
    before = m.user_factors_.copy()
    new = data.subset(np.arange(40))
    m.finetune(new, train=TrainConfig(epochs=2), strategy={"l2sp": 1e12, "clip_norm": 0.1})
    np.testing.assert_allclose(m.user_factors_, before, atol=1e-6)
    m.finetune(new, train=TrainConfig(epochs=2), strategy={"augment": "popular-negatives"})
    assert np.all(np.isfinite(m.user_factors_))

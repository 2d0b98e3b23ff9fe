"""kNN partial_fit (incremental similarities), fine-tuning and implicit weighting."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rectune import Interactions
from rectune.errors import ConfigError
from rectune.models.knn import ItemKNN, UserKNN
from rectune.testing import INCREMENTAL_CHECKS, low_rank
from rectune.training.config import TrainConfig


def _ratings(seed: int = 0, n_users: int = 40, n_items: int = 30, kind: str = "rating"):
    rng = np.random.default_rng(seed)
    m = rng.integers(1, 6, size=(n_users, n_items)) * (rng.random((n_users, n_items)) < 0.4)
    u, i = np.nonzero(m)
    order = rng.permutation(len(u))
    v = m[u, i][order].astype(float) if kind == "rating" else np.ones(len(u))
    return Interactions.from_raw(u[order], i[order], v, np.arange(len(u)), kind=kind)


def _halves(data: Interactions, cut: float = 0.7):
    """Old rows, then new rows that include unseen users and items."""
    n = int(cut * len(data))
    return data.subset(np.arange(n)), data.subset(np.arange(n, len(data)))


def _aligned(model, ref):
    """``model``'s similarity reordered to ``ref``'s id order."""
    ids = ref.user_map_.ids if model.user_based else ref.item_map_.ids
    own = model.user_map_ if model.user_based else model.item_map_
    idx = own.index_of(ids)
    return model.similarity_[np.ix_(idx, idx)]


@pytest.mark.parametrize("cls", [UserKNN, ItemKNN])
@pytest.mark.parametrize("similarity", ["cosine", "jaccard"])
@pytest.mark.parametrize("mode", ["pruned", "query"])
def test_implicit_partial_fit_equals_refit_exactly(cls, similarity, mode) -> None:
    data = _ratings(1, kind="weight")
    old, new = _halves(data)
    params = {"similarity": similarity, "implicit_neighbors": mode, "n_neighbors": 5}
    inc = cls(**params).fit(old)
    for chunk in np.array_split(np.arange(len(new)), 3):
        inc.partial_fit(new.subset(chunk))
    full = cls(**params).fit(data)
    np.testing.assert_array_equal(_aligned(inc, full), full.similarity_)
    users = data.user_ids
    np.testing.assert_array_equal(inc.recommend(users, n=5)[0], full.recommend(users, n=5)[0])


@pytest.mark.parametrize("cls", [UserKNN, ItemKNN])
@pytest.mark.parametrize("similarity", ["cosine", "msd", "pearson"])
def test_rating_similarity_equals_refit(cls, similarity) -> None:
    data = _ratings(2)
    old, new = _halves(data)
    inc = cls(similarity=similarity, centering="mean").fit(old).partial_fit(new)
    full = cls(similarity=similarity, centering="mean").fit(data)
    np.testing.assert_allclose(_aligned(inc, full), full.similarity_, atol=1e-6)
    u, i = data.user_ids, data.item_ids
    np.testing.assert_allclose(inc.predict(u, i), full.predict(u, i), atol=1e-5)


@pytest.mark.parametrize("cls", [UserKNN, ItemKNN])
def test_pearson_baseline_incremental_close_to_refit(cls) -> None:
    """Stale residuals and folded-in biases: close to a refit, not equal (documented)."""
    data = _ratings(3, n_users=60, n_items=40)
    old, new = _halves(data, 0.85)
    inc = cls().fit(old).partial_fit(new)
    full = cls().fit(data)
    assert np.abs(_aligned(inc, full) - full.similarity_).max() < 0.05
    u, i = data.user_ids, data.item_ids
    err = inc.predict(u, i) - full.predict(u, i)
    assert np.sqrt(np.mean(err**2)) < 0.05


def test_rerating_replaces_the_old_value() -> None:
    data = _ratings(4)
    model = ItemKNN(similarity="cosine", centering="mean").fit(data)
    u, i, old_v = data.user_ids[0], data.item_ids[0], data.values[0]
    new_v = 1.0 if old_v != 1.0 else 5.0
    model.partial_fit(Interactions.from_raw([u], [i], [new_v], [10**6]))
    values = data.values.copy()
    values[0] = new_v
    changed = Interactions.from_raw(data.user_ids, data.item_ids, values, data.timestamps)
    full = ItemKNN(similarity="cosine", centering="mean").fit(changed)
    np.testing.assert_allclose(_aligned(model, full), full.similarity_, atol=1e-6)
    assert len(model.rated_values_) == len(data)


def test_incremental_is_cheaper_than_refit_work() -> None:
    """The accumulators are built once; later updates touch only the affected rows."""
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(200), 3)
    items = rng.integers(0, 100, size=600)
    data = Interactions.from_raw(users, items, np.ones(600), np.arange(600), kind="weight")
    old, new = _halves(data, 0.95)
    model = ItemKNN(implicit_neighbors="query").fit(old).partial_fit(new.subset(np.arange(1)))
    stats = model.pair_stats_
    assert stats is not None and stats.dtype == np.float32
    assert stats.shape == (2, len(model.item_map_), len(model.item_map_))
    before = model.similarity_.copy()
    model.partial_fit(new.subset(np.arange(1, 2)))
    changed = np.flatnonzero((model.similarity_ != before[: len(before)]).any(axis=0))
    assert len(changed) < len(model.item_map_)


def test_pruned_update_keeps_no_dense_state() -> None:
    """Pruned neighbourhoods: a sparse table, no accumulators; an update rewrites only the
    rows co-occurring with the touched items."""
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(300), 3)
    items = rng.integers(0, 150, size=900)
    data = Interactions.from_raw(users, items, np.ones(900), np.arange(900), kind="weight")
    old, new = _halves(data, 0.95)
    model = ItemKNN(n_neighbors=4).fit(old)
    assert model.item_similarity_.shape == (len(model.item_map_), 4)
    assert model.neighbors_ is not None and model.neighbors_.dtype == np.int32
    before = model.item_similarity_.copy(), model.neighbors_.copy()
    model.partial_fit(new.subset(np.arange(1)))
    assert model.pair_stats_ is None
    n = len(before[0])
    changed = (model.item_similarity_[:n] != before[0]) | (model.neighbors_[:n] != before[1])
    assert 0 < changed.any(axis=1).sum() < n


def test_finetune_l2sp_shrinks_toward_parent() -> None:
    data = _ratings(6)
    old, new = _halves(data)
    new = new.subset(np.isin(new.user_ids, old.user_ids) & np.isin(new.item_ids, old.item_ids))
    parent = ItemKNN(similarity="cosine", centering="mean").fit(old)
    s0 = parent.similarity_.copy()
    plain = ItemKNN(similarity="cosine", centering="mean").fit(old).finetune(new)
    lam = 3.0
    pulled = ItemKNN(similarity="cosine", centering="mean").fit(old)
    pulled.finetune(new, strategy={"l2sp": {"item_similarity": lam}})
    n = pulled.pair_stats_[0].astype(float)
    expected = (n * plain.similarity_ + lam * s0) / (n + lam)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(pulled.similarity_, expected, atol=1e-6)
    np.testing.assert_array_equal(pulled.item_bias_, plain.item_bias_)


def test_finetune_frozen_similarity_still_learns_lists() -> None:
    data = _ratings(7)
    old, new = _halves(data)
    model = ItemKNN(similarity="cosine").fit(old)
    sim = model.similarity_.copy()
    model.finetune(new, strategy={"freeze": ["item_similarity"]})
    np.testing.assert_array_equal(model.similarity_[: len(sim), : len(sim)], sim)
    assert len(model.rated_values_) == len(data)


def test_finetune_unsupported_settings_are_errors() -> None:
    data = _ratings(8)
    old, new = _halves(data)
    model = ItemKNN().fit(old)
    for bad in ({"clip_norm": 1.0}, {"augment": "pseudo"}, {"new_ids": "features"}):
        with pytest.raises(ConfigError, match="cannot honour"):
            model.finetune(new, strategy=bad)
    with pytest.raises(ConfigError, match="cannot honour"):
        model.finetune(new, train=TrainConfig(early_stopping=2))
    with pytest.raises(ConfigError, match=r"cannot honour setting\(s\) replay"):
        model.finetune(new, strategy={"replay": 0.5})  # replay changes nothing without l2sp
    model.finetune(new, strategy={"l2sp": 0.1, "replay": 0.5, "new_ids": "neighbors"})
    assert len(model.item_map_) == data.n_items


def _implicit_sim(counts: sp.csr_matrix, weighting: str) -> np.ndarray:
    """Item-item similarity as implicit's TFIDF/BM25 recommenders compute it, unpruned."""
    from implicit import nearest_neighbours as nn  # the `test` extra: fails, never skips

    if weighting == "tfidf":
        w = nn.normalize(nn.tfidf_weight(counts.T)).T
    else:
        w = nn.bm25_weight(counts.T, 1.2, 0.75).T
    w = sp.csr_matrix(w)
    return (w.T @ w).toarray()


@pytest.mark.parametrize("weighting", ["tfidf", "bm25"])
def test_weighting_matches_implicit(weighting) -> None:
    data = _ratings(9, kind="weight")
    model = ItemKNN(weighting=weighting, implicit_neighbors="query").fit(data)
    counts = sp.csr_matrix((data.values, (data.users, data.items)))
    ref = _implicit_sim(counts, weighting)
    off = ~np.eye(len(ref), dtype=bool)
    np.testing.assert_allclose(model.similarity_[off], ref[off], rtol=1e-5, atol=1e-6)
    old, new = _halves(data)
    inc = ItemKNN(weighting=weighting).fit(old).partial_fit(new)
    full = ItemKNN(weighting=weighting).fit(data)
    np.testing.assert_allclose(_aligned(inc, full), full.similarity_, atol=1e-6)
    with pytest.raises(ConfigError, match="implicit"):
        ItemKNN(weighting=weighting).fit(_ratings(9))
    with pytest.raises(ConfigError, match="cosine"):
        ItemKNN(weighting=weighting, similarity="jaccard").fit(data)


def test_pruned_keeps_n_neighbors_per_item() -> None:
    data = _ratings(10, kind="weight")
    model = ItemKNN(n_neighbors=3).fit(data)
    off = model.similarity_ - np.diag(np.diag(model.similarity_))
    # transposed storage: column i holds item i's neighbours
    assert ((off > 0).sum(axis=0) <= 3).all()
    full = ItemKNN(implicit_neighbors="query").fit(data).similarity_
    for i in range(off.shape[1]):
        row = full[i].copy()
        row[i] = -np.inf
        kept = np.flatnonzero(off[:, i] > 0)
        assert np.all(row[kept] >= np.sort(row)[-3] - 1e-7)


def test_partial_fit_implicit_new_user_and_item() -> None:
    data = _ratings(11, kind="weight")
    model = ItemKNN().fit(data)
    events = Interactions.from_raw([999] * 3 + [0, 1], [0, 1, 2, 998, 998], kind="weight")
    model.partial_fit(events)
    ids, scores = model.recommend([999], n=3)
    assert not {0, 1, 2} & set(ids[0][np.isfinite(scores[0])].tolist())
    assert model.similarity_.shape == (data.n_items + 1,) * 2


@pytest.mark.parametrize("cls", [UserKNN, ItemKNN])
@pytest.mark.parametrize("check", sorted(INCREMENTAL_CHECKS))
def test_pruned_implicit_passes_incremental_checks(cls, check) -> None:
    """The sparse neighbour table honours every fine-tune/update check (implicit data)."""
    data = low_rank(n_users=50, n_items=40, density=0.4).binarize()
    INCREMENTAL_CHECKS[check](lambda: cls(n_neighbors=5), data)


@pytest.mark.parametrize("cls", [UserKNN, ItemKNN])
def test_pruned_save_load_and_pair_scores(cls, tmp_path) -> None:
    data = _ratings(12, kind="weight")
    model = cls(n_neighbors=4, min_k=2).fit(data)
    model.save(str(tmp_path / "m"))
    loaded = cls.load(str(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.neighbors_, model.neighbors_)
    users = np.arange(data.n_users)
    full = model.score_users_indices(users)
    # the pair kernel agrees with the full-catalogue kernel, and both with the dense view
    uu, ii = np.repeat(users, data.n_items), np.tile(np.arange(data.n_items), data.n_users)
    np.testing.assert_allclose(model._score_pairs(uu, ii), full.ravel(), atol=1e-9)
    np.testing.assert_array_equal(loaded.score_users_indices(users), full)

"""Synthetic generator: shape, determinism, no duplicates, time structure, signal in side data."""

from __future__ import annotations

import numpy as np
import pytest

from rectune.data.synthetic import GENRES, START, checkerboard, generate


@pytest.fixture(scope="module")
def data():
    return generate(n_users=400, n_items=300, n_interactions=20_000, embedding_size=8, seed=3)


def test_sizes_and_no_duplicate_pairs(data) -> None:
    assert len(data) == 20_000 and data.kind == "rating"
    pairs = data.users.astype(np.int64) * data.n_items + data.items
    assert np.unique(pairs).size == len(data)
    assert data.n_users <= 400 and data.n_items <= 300
    assert data.meta["bad_rows"] == 0 and data.source == "synthetic"


def test_ratings_on_the_scale(data) -> None:
    assert set(np.unique(data.values).tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.0 < data.values.mean() < 4.0 and 0.7 < data.values.std() < 1.4
    half = generate(
        n_users=50, n_items=40, n_interactions=600, rating_scale=(0.5, 5), rating_step=0.5
    )
    assert set((half.values * 2).tolist()) <= set(range(1, 11)) and half.values.min() >= 0.5


def test_deterministic_under_seed() -> None:
    kwargs = {"n_users": 100, "n_items": 80, "n_interactions": 2_000}
    a, b = generate(**kwargs, seed=5), generate(**kwargs, seed=5)
    assert a.fingerprint() == b.fingerprint()
    assert a.item_text.equals(b.item_text) and a.user_features.equals(b.user_features)
    assert generate(**kwargs, seed=6).fingerprint() != a.fingerprint()
    plain = generate(**kwargs, seed=5, with_text=False, with_features=False)
    assert plain.fingerprint() == a.fingerprint()  # side data never changes the rows
    assert plain.item_text is None and plain.user_features is None


def test_timestamps_sorted_and_arrivals_respected(data) -> None:
    ts = data.timestamps
    assert np.all(np.diff(ts) >= 0) and ts.min() >= START
    assert ts.max() < START + 730 * 86_400
    truth = data.meta["truth"]
    u_arr = truth["user_arrival"][data.user_ids - 1]
    i_arr = truth["item_arrival"][data.item_ids - 1]
    assert np.all(ts >= u_arr) and np.all(ts >= i_arr)
    # New users and items exist and only show up after they arrive (late in the span).
    late_users = np.flatnonzero(truth["user_arrival"] > START) + 1
    assert 20 <= len(late_users) <= 60
    first_seen = ts[np.isin(data.user_ids, late_users)].min()
    assert first_seen > START + 0.2 * 730 * 86_400


def test_implicit_weights() -> None:
    d = generate(n_users=100, n_items=80, n_interactions=2_000, implicit=True)
    assert d.kind == "weight" and d.values.min() >= 1 and d.values.dtype == np.float64
    assert np.all(d.values == np.round(d.values))


def test_ratings_follow_the_true_factors(data) -> None:
    truth = data.meta["truth"]
    P, Q = truth["user_factors"], truth["item_factors"]
    dot = np.einsum("ij,ij->i", P[data.user_ids - 1], Q[data.item_ids - 1])
    assert np.corrcoef(dot, data.values)[0, 1] > 0.4


def test_popularity_is_skewed(data) -> None:
    counts = np.sort(np.bincount(data.items))[::-1]
    assert counts[:30].sum() > 4 * counts[-30:].sum()


def test_side_information_carries_signal(data) -> None:
    feats = data.item_features
    assert list(feats.columns) == [*GENRES, "year"]
    assert (feats[list(GENRES)].sum(axis=1) >= 1).all()
    # Item text names the item's genres.
    for item_id in feats.index[:20]:
        on = [g for g in GENRES if feats.loc[item_id, g]]
        assert data.item_text[item_id].endswith(" | " + ", ".join(on))
    # Occupation is mostly determined by the taste cluster.
    users = data.user_features
    cluster = data.meta["truth"]["user_cluster"]
    joint = users.assign(cluster=cluster).groupby("cluster")["occupation"]
    purity = joint.agg(lambda s: s.value_counts(normalize=True).iloc[0]).mean()
    assert purity > 0.6
    assert set(users["gender"].unique()) == {"F", "M"} and users["age"].between(13, 80).all()


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="more than half"):
        generate(n_users=10, n_items=10, n_interactions=60)
    with pytest.raises(ValueError, match="new_user_fraction"):
        generate(new_user_fraction=1.0)
    with pytest.raises(ValueError, match=">= 1"):
        generate(n_interactions=0)


@pytest.mark.slow
def test_one_million_is_fast() -> None:
    import time

    start = time.process_time()
    d = generate(n_users=6040, n_items=3700, n_interactions=1_000_000, with_text=False)
    assert len(d) == 1_000_000
    assert time.process_time() - start < 15  # about 1.5 s of CPU on a quiet machine


# ---------------------------------------------------------------------------------- checkerboard
@pytest.mark.parametrize("implicit", [False, True])
def test_checkerboard_known_answer(implicit: bool) -> None:
    d = checkerboard(12, 16, implicit=implicit, seed=1)
    user_cluster, item_cluster = d.meta["user_cluster"], d.meta["item_cluster"]
    same = np.array(
        [user_cluster[u] == item_cluster[i] for u, i in zip(d.user_ids, d.item_ids, strict=True)]
    )
    if implicit:
        assert same.all() and d.kind == "weight"
    else:
        assert np.array_equal(d.values == 5.0, same) and set(d.values.tolist()) == {1.0, 5.0}
    seen = set(zip(d.user_ids.tolist(), d.item_ids.tolist(), strict=True))
    for user, items in d.meta["withheld"].items():
        assert items, "every user has unseen items of their own cluster"
        assert all(item_cluster[i] == user_cluster[user] for i in items)
        assert not any((user, i) in seen for i in items)
    assert d.fingerprint() == checkerboard(12, 16, implicit=implicit, seed=1).fingerprint()

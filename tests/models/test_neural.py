"""Two-tower and SASRec: features for cold items, sequence learning, incremental sequences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rectune import Interactions
from rectune.data.synthetic import generate
from rectune.errors import ConfigError
from rectune.models.neural import SASRec, TwoTower, windows
from rectune.registry.artifacts import load_model
from rectune.training.config import TrainConfig


@pytest.fixture(scope="module")
def synthetic() -> Interactions:
    # Uniform popularity and no drift: the choices among items follow taste, which the item
    # genres reveal (a genre-profile content model reaches an AUC of about 0.65 here).
    return generate(
        n_users=300,
        n_items=150,
        n_interactions=6000,
        embedding_size=4,
        seed=3,
        implicit=True,
        n_clusters=4,
        popularity_skew=0.0,
        drift=0.0,
    )


def _cold_item_auc(model: TwoTower, full: Interactions, cold_ids: np.ndarray) -> float:
    """Mean per-user AUC among the cold items: the ones the user took vs the others."""
    frame = full.to_frame()
    frame = frame[frame.item_id.isin(cold_ids)]
    aucs = []
    for user, group in frame.groupby("user_id"):
        liked = np.isin(cold_ids, group.item_id.to_numpy())
        if liked.all():
            continue
        s = model.score(np.full(len(cold_ids), user), cold_ids)
        pos, neg = s[liked][:, None], s[~liked][None, :]
        aucs.append(np.mean((pos > neg) + 0.5 * (pos == neg)))
    return float(np.mean(aucs))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one torch thread is fastest and robust on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_tower_ranks_cold_item_by_features(synthetic: Interactions) -> None:
    """A new item known only by its features is ranked up for users of its genre."""
    counts = np.bincount(synthetic.items, minlength=synthetic.n_items)
    cold = np.flatnonzero(counts >= 15)[::4][:12]
    cold_ids = synthetic.item_map.ids[cold]
    train = synthetic.subset(~np.isin(synthetic.items, cold))
    cfg = {"embedding_size": 16, "layers": [32], "epochs": 10, "batch_size": 256}
    model = TwoTower(**cfg).fit(train, train=TrainConfig(seed=0))
    feats = synthetic.item_features.loc[cold_ids]
    assert model.add_items(cold_ids, item_features=feats, new_ids="mean") == len(cold)
    assert len(model.item_map_) == train.n_items + len(cold) or np.all(
        model.item_map_.index_of(cold_ids) >= 0
    )
    with_features = _cold_item_auc(model, synthetic, cold_ids)
    ids_only = TwoTower(**cfg, use_features=False).fit(train, train=TrainConfig(seed=0))
    ids_only.add_items(cold_ids, item_features=feats, new_ids="mean")
    without = _cold_item_auc(ids_only, synthetic, cold_ids)
    assert with_features > 0.6, with_features
    assert abs(without - 0.5) < 0.05, without  # ids only: cold items are indistinguishable
    # cold items are recommendable and never crash the full-catalogue path
    _ids, scores = model.recommend(model.user_map_.ids[:5], n=10)
    assert np.isfinite(scores).all()


def test_two_tower_feature_encoders_survive_save_load(synthetic: Interactions, tmp_path) -> None:
    model = TwoTower(embedding_size=4, layers=[8], epochs=1).fit(synthetic)
    model.save(str(tmp_path / "a"))
    loaded = load_model(tmp_path / "a")
    for side in ("user", "item"):
        for key, value in model._specs[side].items():
            np.testing.assert_array_equal(loaded._specs[side][key], value)
    assert model.module_.user_side.shape[1] > 3 and model.module_.item_side.shape[1] > 10
    # a new user with features is encoded with the stored encoder
    new = Interactions.from_raw([99999, 99999], synthetic.item_ids[:2], kind="weight")
    new.user_features = pd.DataFrame(
        {"age": [30], "gender": ["F"], "occupation": ["student"]}, index=pd.Index([99999])
    )
    for m in (model, loaded):
        m.partial_fit(new, train=TrainConfig(epochs=1))
    row = loaded.user_map_.index_of([99999])[0]
    side = loaded.module_.user_side[row].numpy()
    assert side.any(), "new user's features were not encoded"
    np.testing.assert_array_equal(side, model.module_.user_side[row].numpy())
    np.testing.assert_allclose(model.score([99999], [1]), loaded.score([99999], [1]), rtol=1e-6)


def _cyclic_sequences(n_users: int = 120, n_items: int = 20, length: int = 12, seed: int = 0):
    """Every user walks the items in a fixed cycle i -> i+1 from a random start."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, n_items, n_users)
    steps = np.arange(length)
    items = (start[:, None] + steps[None, :]) % n_items
    users = np.repeat(np.arange(n_users), length)
    ts = np.tile(steps, n_users) + 1_000
    order = rng.permutation(len(users))  # rows arrive shuffled; timestamps carry the order
    data = Interactions.from_raw(
        users[order], items.ravel()[order], timestamps=ts[order], kind="weight"
    )
    return data, (items[:, -1] + 1) % n_items


def test_sasrec_learns_a_deterministic_sequence() -> None:
    data, nxt = _cyclic_sequences()
    model = SASRec(
        embedding_size=16, max_length=8, blocks=1, dropout=0.0, epochs=40, learning_rate=0.01
    ).fit(data, train=TrainConfig(seed=0))
    ids, _ = model.recommend(np.arange(120), n=1, exclude_seen=False)
    accuracy = np.mean(ids[:, 0] == nxt)
    assert accuracy > 0.9, accuracy


def test_sasrec_partial_fit_appends_to_sequences() -> None:
    data, _ = _cyclic_sequences(n_users=10, n_items=8, length=5)
    model = SASRec(embedding_size=8, max_length=6, blocks=1, epochs=1).fit(data)
    before = model.user_sequence_[model.user_map_.index_of([3])[0]].copy()
    model.learn_one(3, 7)
    after = model.user_sequence_[model.user_map_.index_of([3])[0]]
    assert after[-1] == model.item_map_.index_of([7])[0]
    np.testing.assert_array_equal(after[:-1], before[1:])
    # a new user's sequence comes from its events, in timestamp order
    new = Interactions.from_raw([500, 500, 500], [2, 1, 0], timestamps=[30, 20, 10], kind="weight")
    model.partial_fit(new)
    seq = model.user_sequence_[model.user_map_.index_of([500])[0]]
    np.testing.assert_array_equal(seq[-3:], model.item_map_.index_of([0, 1, 2]))
    assert (seq[:-3] == -1).all()


def test_sasrec_rejects_pseudo_labels() -> None:
    data, _ = _cyclic_sequences(n_users=10, n_items=8, length=5)
    model = SASRec(embedding_size=8, max_length=6, blocks=1, epochs=1).fit(data)
    with pytest.raises(ConfigError, match="augment=pseudo"):
        model.finetune(data, strategy={"augment": "pseudo"})


def test_windows_cover_each_target_once() -> None:
    indptr = np.array([0, 5, 6, 13])
    items = np.arange(13)
    first = np.array([1, 1, 3])
    inp, tgt = windows(indptr, items, first, 4)
    targets = np.sort(tgt[tgt >= 0])
    np.testing.assert_array_equal(targets, [1, 2, 3, 4, 9, 10, 11, 12])
    ok = (tgt >= 0) & (inp >= 0)
    np.testing.assert_array_equal(inp[ok], tgt[ok] - 1)  # input is the previous item

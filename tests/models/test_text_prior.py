"""The text model's popularity prior: chosen on held-out rows, kept out of training, saved,
kept for thin fine-tuning data, off means the cosine alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rectune.data import Interactions
from rectune.models.text import TextRecommender
from rectune.registry.artifacts import load_model
from tests.test_conformance import _tiny_text_encoder


@pytest.fixture(scope="module")
def tiny() -> str:
    return _tiny_text_encoder()


def popular_data(n_users: int = 120, n_items: int = 40, seed: int = 0) -> Interactions:
    """Users pick items by a Zipf popularity; every item has the same text (no signal)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** 1.2
    users, items = [], []
    for u in range(n_users):
        k = int(rng.integers(2, 12))
        for i in rng.choice(n_items, size=k, replace=False, p=p / p.sum()):
            users.append(f"u{u}")
            items.append(int(i))
    text = pd.Series({i: "A film | Drama" for i in range(n_items)})
    ts = np.arange(len(users)) + 1_600_000_000
    return Interactions.from_raw(users, items, np.ones(len(users)), ts, item_text=text)


def _make(tiny: str, **kw) -> TextRecommender:
    params = {"encoder": tiny, "epochs": 1, "batch_size": 64, "adapter": 8, "max_length": 16}
    return TextRecommender(**{**params, **kw})


def test_prior_ranks_by_popularity_when_text_says_nothing(tiny) -> None:
    data = popular_data()
    model = _make(tiny).fit(data)
    chosen = model.prior_support_ > 0
    assert chosen[:2].all() and (model.prior_weights_[chosen] > 0).all()
    assert (model.prior_weights_ > 0).all()  # unchosen buckets take the nearest chosen one
    recs, _ = model.recommend(["u0", "u1"], n=5)
    counts = pd.Series(data.item_map.ids[data.items]).value_counts()
    for user, row in zip(["u0", "u1"], recs.tolist(), strict=True):
        seen = set(data.item_map.ids[data.items[data.users == data.user_map.index_of([user])[0]]])
        expected = [i for i in counts.index if i not in seen][:5]
        assert [counts[i] for i in row] == [counts[i] for i in expected]
    off = _make(tiny, popularity_prior="off").fit(data)
    u = off.user_map_.index_of(["u0"])
    cosine = off._user_vecs[u] @ off._item_vecs.T
    np.testing.assert_allclose(off.score_users_indices(u), cosine)


def test_held_out_rows_stay_out_of_training(tiny, monkeypatch) -> None:
    seen_pairs: list[np.ndarray] = []
    held: list[np.ndarray] = []
    original = TextRecommender.epoch_arrays

    def spy(self, data, rng):
        arrays = original(self, data, rng)
        held.append(self._plan.codes)
        seen_pairs.append(arrays["users"] * len(self.item_map_) + arrays["items"])
        return arrays

    monkeypatch.setattr(TextRecommender, "epoch_arrays", spy)
    model = _make(tiny, prior_users=50).fit(popular_data())
    assert len(held[0]) == 50 and not np.isin(held[0], seen_pairs[0]).any()
    assert len(seen_pairs[0]) == len(popular_data()) - 50  # one row per held-out user
    assert model._plan is None  # the plan ends with the run


def test_prior_saved_and_kept_when_finetune_data_is_thin(tiny, tmp_path) -> None:
    model = _make(tiny).fit(popular_data())
    model.save(str(tmp_path / "m"))
    again = load_model(tmp_path / "m")
    np.testing.assert_array_equal(again.prior_weights_, model.prior_weights_)
    users, items = ["u0", "u3"], [0, 5]
    np.testing.assert_allclose(again.score(users, items), model.score(users, items))
    # one item per new user: no held-out user, the parent's weights stay; popularity grows
    thin = Interactions.from_raw(
        [f"n{u}" for u in range(30)], [39] * 30, np.ones(30), np.arange(30) + 1_700_000_000,
        item_text=pd.Series({39: "A film | Drama"}),
    )  # fmt: skip
    before = again.score(["u0"], [39])[0]
    again.finetune(thin)
    np.testing.assert_array_equal(again.prior_weights_, model.prior_weights_)
    assert again.score(["u0"], [39])[0] > before  # item 39 became popular
    assert again.recommend(["n0", "n1"], n=1)[0].ravel().tolist() == [0, 0]

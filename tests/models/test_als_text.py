"""ALSText: cold items get factors from a text map trained to rank; it saves and loads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rectune.models import ALS, create_model
from rectune.registry.artifacts import load_model
from tests.models.test_text_hybrid import genre_data


def _cold_ranking_ok(model, data, n_items: int, extra: int) -> float:
    """Share of users whose top cold item (among the ``extra`` text-only ones) is of their genre."""
    cold = np.arange(n_items, n_items + extra)
    users = np.asarray(data.user_map.ids)
    scores = model.score(np.repeat(users, len(cold)), np.tile(cold, len(users)))
    best = cold[scores.reshape(len(users), len(cold)).argmax(1)]
    genre = np.array([int(u[1:]) % 2 for u in users])
    return float(np.mean(best % 2 == genre))


def test_text_only_items_join_and_rank_by_their_genre() -> None:
    data = genre_data(extra=6)
    model = create_model("als-text", embedding_size=8, epochs=10, map_epochs=3, reg=0.1).fit(data)
    assert len(model.item_map_) == 36  # the 6 text-only items are in the catalogue
    assert np.abs(model.item_factors_[30:]).sum() > 0
    assert _cold_ranking_ok(model, data, 30, 6) >= 0.9


def test_trained_map_differs_from_ridge_and_survives_save_load(tmp_path) -> None:
    data = genre_data(extra=0)
    text = data.item_text
    more = pd.concat([text, pd.Series({100: "Film 100 | space opera, aliens", 101: "love story"})])
    model = create_model("als-text", embedding_size=8, epochs=10, map_epochs=3, reg=0.1)
    model.fit(data)
    ridge = ALS(embedding_size=8, epochs=10, reg=0.1).fit(data)
    assert np.allclose(ridge.item_factors_, model.item_factors_)  # warm items: plain ALS
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert model.add_items([100, 101], item_text=more) == 2
    assert loaded.add_items([100, 101], item_text=more) == 2
    assert ridge.add_items([100, 101], item_text=more) == 2
    assert np.array_equal(model.item_factors_[-2:], loaded.item_factors_[-2:])
    assert not np.allclose(model.item_factors_[-2:], ridge.item_factors_[-2:])
    users = np.asarray(data.user_map.ids)
    assert np.array_equal(model.score(users, np.full(len(users), 100)),
                          loaded.score(users, np.full(len(users), 100)))  # fmt: skip


def test_map_epochs_zero_is_the_ridge_start() -> None:
    data = genre_data(extra=4)
    model = create_model("als-text", embedding_size=8, epochs=10, map_epochs=0, reg=0.1)
    model.fit(data)
    ridge = ALS(embedding_size=8, epochs=10, reg=0.1).fit(data)
    ridge.add_items(np.asarray(data.item_text.index), item_text=data.item_text)
    # least squares (no penalty) vs the ridge map's chosen penalty: close, same ordering of users
    assert model.item_factors_.shape == ridge.item_factors_.shape

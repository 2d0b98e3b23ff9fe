"""TextHybrid: text-only items ranked by their text, warm items, save/load, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rectune.data import Interactions
from rectune.errors import ConfigError
from rectune.models.hybrid import TextHybrid
from rectune.registry.artifacts import load_model
from rectune.training import TrainConfig
from tests.test_conformance import _tiny_text_encoder

GENRES = {
    0: "space opera, science fiction, aliens, starship",
    1: "romance, love story, wedding, drama",
}


def genre_data(n_users: int = 40, n_items: int = 30, extra: int = 0) -> Interactions:
    """Users of two tastes, each liking items whose text names their genre; ``extra`` more
    items (alternating genres) have text and no interactions."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(n_users):
        liked = [i for i in range(n_items) if i % 2 == u % 2]
        for i in rng.choice(liked, size=8, replace=False):
            users.append(f"u{u}")
            items.append(int(i))
    text = pd.Series(
        {i: f"Film {i} | {GENRES[i % 2]} | tags: t{i}" for i in range(n_items + extra)}
    )
    ts = np.arange(len(users)) + 1_600_000_000
    return Interactions.from_raw(users, items, np.ones(len(users)), ts, item_text=text)


@pytest.fixture(scope="module")
def tiny() -> str:
    return _tiny_text_encoder()


def _make(tiny: str, **kw) -> TextHybrid:
    params = {"encoder": tiny, "epochs": 15, "batch_size": 16, "embedding_size": 16,
              "content_hidden": 32, "max_length": 8, "blocks": 1, "text_length": 24,
              "learning_rate": 0.01}  # fmt: skip
    return TextHybrid(**{**params, **kw})


@pytest.fixture(scope="module")
def fitted(tiny) -> TextHybrid:
    return _make(tiny, negatives=8, token_features=True).fit(
        genre_data(extra=2), train=TrainConfig(seed=0)
    )


def _taste_agreement(model: TextHybrid, a, b) -> float:
    users = [f"u{u}" for u in range(40)]
    scores = model.score(np.repeat(users, 2), np.tile([a, b], 40)).reshape(40, 2)
    assert np.all(np.isfinite(scores))
    return float(np.mean((scores[:, 0] > scores[:, 1]) == (np.arange(40) % 2 == 0)))


def test_text_only_items_are_ranked_by_their_text(fitted) -> None:
    # Items 30 (space) and 31 (romance) have text but no interactions: no id part.
    idx = fitted.item_map_.index_of([30, 31])
    assert np.all(idx >= 0) and np.all(fitted.item_popularity_[idx] == 0)
    assert fitted.module_.gate[idx].tolist() == [0.0, 0.0]
    assert _taste_agreement(fitted, 30, 31) >= 0.9
    assert all("tags" not in t for t in fitted.item_text_)


def test_add_items_and_warm_items(tiny, fitted) -> None:
    assert _taste_agreement(fitted, 0, 1) >= 0.9  # warm items: ids and text
    model = _make(tiny, epochs=15).fit(genre_data(), train=TrainConfig(seed=0))
    text = {100: f"New | {GENRES[0]}", 101: f"Other | {GENRES[1]}"}
    with pytest.raises(ConfigError, match="new_ids=mean"):
        model.add_items([100, 101], item_text=text, new_ids="mean")
    assert model.add_items([100, 101], item_text=text) == 2
    assert _taste_agreement(model, 100, 101) >= 0.9
    # Events for a text-only item switch its id part on and train it (no id dropout here, so
    # every step uses it).
    model = _make(tiny, epochs=2, id_dropout=0.0).fit(genre_data(), train=TrainConfig(seed=0))
    model.add_items([100, 101], item_text=text)
    events = Interactions.from_raw(["u0", "u2"], [100, 100], [1.0, 1.0], [1_700_000_000] * 2)
    before = model.module_.item_factors.weight.detach().clone()
    model.partial_fit(events, train=TrainConfig(epochs=2))
    row = model.item_map_.index_of([100])[0]
    assert model.module_.gate[row] == 1.0 and not before[row].any()
    assert model.module_.item_factors.weight[row].detach().abs().sum() > 0


def test_save_load_gives_equal_scores(fitted, tmp_path) -> None:
    fitted.save(str(tmp_path / "a"))
    with np.load(tmp_path / "a" / "params.npz", allow_pickle=False) as npz:
        assert not any(k.endswith("text_x") for k in npz.files)  # recomputed from the text
    loaded = load_model(tmp_path / "a")
    users, items = np.repeat(["u0", "u1", "u7"], 32), np.tile(np.arange(32), 3)
    np.testing.assert_allclose(loaded.score(users, items), fitted.score(users, items), atol=1e-6)


def test_unsupported_settings_raise(tiny, fitted) -> None:
    data = genre_data()
    with pytest.raises(ConfigError, match="augment=pseudo"):
        fitted.finetune(data, strategy={"augment": "pseudo"})
    with pytest.raises(ConfigError, match="early_stopping"):
        fitted.finetune(data, train=TrainConfig(early_stopping=2))
    with pytest.raises(ConfigError, match="heads"):
        _make(tiny, heads=3).fit(data)

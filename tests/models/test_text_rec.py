"""TextRecommender: tuning modes touch only their groups, zero-shot items, L2-SP, resume, save."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rectune.data import Interactions
from rectune.errors import ConfigError
from rectune.models.text import TextRecommender
from rectune.registry.artifacts import load_model
from rectune.text import TextEncoder
from rectune.training import TrainConfig
from tests.test_conformance import _tiny_text_encoder

GENRES = {
    0: "space opera, science fiction, aliens, starship",
    1: "romance, love story, wedding, drama",
}


def genre_data(n_users: int = 40, n_items: int = 30, seed: int = 0, extra: int = 0) -> Interactions:
    """Users of two tastes, each liking the items whose text names their genre.

    ``extra`` more items (one per genre alternately) have text but no interactions.
    """
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        liked = [i for i in range(n_items) if i % 2 == u % 2]
        for i in rng.choice(liked, size=6, replace=False):
            users.append(f"u{u}")
            items.append(int(i))
    text = pd.Series(
        {i: f"Film {i} ({1950 + i}) | {GENRES[i % 2]}" for i in range(n_items + extra)}
    )
    ts = np.arange(len(users)) + 1_600_000_000
    return Interactions.from_raw(users, items, np.ones(len(users)), ts, item_text=text)


@pytest.fixture(scope="module")
def tiny() -> str:
    return _tiny_text_encoder()


def _make(tiny: str, **kw) -> TextRecommender:
    params = {"encoder": tiny, "epochs": 3, "batch_size": 64, "adapter": 16, "max_length": 24}
    return TextRecommender(**{**params, **kw})


def _encoder_state(model: TextRecommender) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.encoder.model.state_dict().items()}


def test_frozen_mode_trains_only_the_adapters(tiny) -> None:
    reference = TextEncoder(tiny, max_length=24).model.state_dict()
    model = _make(tiny).fit(genre_data())
    for key, value in model.encoder.model.state_dict().items():
        assert torch.equal(value, reference[key]), key
    groups = model.parameter_groups()
    assert np.any(groups["adapter"] != 0) and np.any(groups["tokens"] != 0)
    assert model.trainable_parameters() < sum(p.numel() for p in model.module_.parameters())


def test_lora_trains_only_lora_and_adapters(tiny) -> None:
    reference = TextEncoder(tiny, max_length=24).model.state_dict()
    model = _make(tiny, tuning="lora", lora_r=2, epochs=2).fit(genre_data())
    lora_moved = False
    for key, value in model.encoder.model.state_dict().items():
        if "lora_" in key:
            lora_moved |= "lora_B" in key and bool(value.abs().sum() > 0)
            continue
        base = key.replace("base_model.model.", "").replace(".base_layer", "")
        assert torch.equal(value, reference[base]), key
    assert lora_moved, "LoRA B matrices never left zero"
    trainable = {n.split(".", 1)[0] for n, p in model.module_.named_parameters() if p.requires_grad}
    assert trainable == {"encoder", "adapter", "tokens", "user_adapter"}
    enc = [n for n, p in model.module_.encoder.named_parameters() if p.requires_grad]
    assert enc and all("lora_" in n for n in enc)


def test_full_mode_moves_encoder_weights(tiny) -> None:
    model = _make(tiny, tuning="full", epochs=1, encoder_learning_rate=1e-3)
    before = TextEncoder(tiny, max_length=24).model.state_dict()
    model.fit(genre_data())
    after = model.encoder.model.state_dict()
    assert any(not torch.equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("tuning", ["frozen", "lora"])
def test_huge_l2sp_stays_at_parent_and_freeze_is_exact(tiny, tuning) -> None:
    data = genre_data()
    model = _make(tiny, tuning=tuning, epochs=1).fit(data)
    before = {g: a.copy() for g, a in model.parameter_groups().items()}
    model.finetune(data, train=TrainConfig(epochs=1), strategy={"l2sp": 1e12})
    for g, a in model.parameter_groups().items():
        np.testing.assert_allclose(a, before[g], atol=1e-6, err_msg=g)
    before = {g: a.copy() for g, a in model.parameter_groups().items()}
    model.finetune(data, train=TrainConfig(epochs=1), strategy={"freeze": ["adapter", "encoder"]})
    after = model.parameter_groups()
    np.testing.assert_array_equal(after["adapter"], before["adapter"])
    np.testing.assert_array_equal(after["encoder"], before["encoder"])
    assert not np.array_equal(after["user_adapter"], before["user_adapter"])


def test_zero_shot_items_ranked_by_their_text(tiny) -> None:
    # Items 30 (space) and 31 (romance) have text but no interactions.
    data = genre_data(extra=2)
    model = _make(tiny, epochs=8).fit(data)
    assert 30 in model.item_map_ and model.item_popularity_[model.item_map_.index_of([30])[0]] == 0
    users = [f"u{u}" for u in range(40)]
    scores = model.score(np.repeat(users, 2), np.tile([30, 31], 40)).reshape(40, 2)
    assert np.all(np.isfinite(scores))
    prefers_space = scores[:, 0] > scores[:, 1]
    taste_space = np.arange(40) % 2 == 0
    assert np.mean(prefers_space == taste_space) >= 0.9
    # A new item arriving through partial_fit with its text: no gradient steps, still ranked.
    before = {g: a.copy() for g, a in model.parameter_groups().items()}
    text = pd.Series({99: f"Film 99 (1990) | {GENRES[1]}"})
    events = Interactions.from_raw(["u1"], [99], [1.0], [1_700_000_000], item_text=text)
    model.partial_fit(events)
    for g, a in model.parameter_groups().items():
        np.testing.assert_array_equal(a, before[g])
    s = model.score(["u3", "u2"], [99, 99])
    assert np.all(np.isfinite(s)) and s[0] > s[1]


def test_text_change_updates_only_that_item(tiny) -> None:
    data = genre_data()
    model = _make(tiny, epochs=1).fit(data)
    before = model.item_vectors(np.arange(30))
    text = pd.Series({4: f"Film 4 (1954) | {GENRES[1]}"})
    model.partial_fit(Interactions.from_raw(["u0"], [2], [1.0], [1_700_000_000], item_text=text))
    after = model.item_vectors(np.arange(30))
    changed = np.flatnonzero(np.abs(after - before).sum(axis=1) > 1e-9)
    assert changed.tolist() == [4]


def test_cross_domain_users_are_scored_zero_shot(tiny) -> None:
    model = _make(tiny, epochs=2).fit(genre_data())
    other = Interactions.from_raw(
        ["x1", "x1", "x2"],
        ["b1", "b2", "b3"],
        item_text=pd.Series({"b1": "Moon | space", "b2": "Mars | space", "b3": "Vows | romance"}),
    )
    model.partial_fit(other)
    _ids, scores = model.recommend(["x1", "x2"], n=3)
    assert np.all(np.isfinite(scores[:, 0]))


@pytest.mark.parametrize("tuning", ["lora", "full"])
def test_save_load_trained_encoder(tiny, tuning, tmp_path) -> None:
    data = genre_data()
    model = _make(tiny, tuning=tuning, epochs=1, lora_r=2).fit(data)
    model.save(str(tmp_path / "a"))
    with np.load(tmp_path / "a" / "params.npz", allow_pickle=False) as npz:
        enc = [k for k in npz.files if k.startswith("torch.encoder.")]
        assert npz["item_text"].dtype.kind == "U"
    assert enc and (tuning == "full" or all("lora_" in k for k in enc))
    loaded = load_model(tmp_path / "a")
    users, items = data.user_ids[:40], data.item_ids[:40]
    np.testing.assert_allclose(loaded.score(users, items), model.score(users, items), atol=1e-6)


def test_text_user_tower(tiny) -> None:
    model = _make(tiny, user_tower="text", epochs=1).fit(genre_data())
    _, scores = model.recommend(["u0", "u1"], n=5)
    assert np.all(np.isfinite(scores))


def test_unsupported_strategies_raise(tiny) -> None:
    data = genre_data()
    model = _make(tiny, epochs=1).fit(data)
    with pytest.raises(ConfigError, match="augment=pseudo"):
        model.finetune(data, strategy={"augment": "pseudo"})
    with pytest.raises(ConfigError, match="early_stopping"):
        model.finetune(data, train=TrainConfig(early_stopping=2))
    model.finetune(data, train=TrainConfig(epochs=1), strategy={"new_ids": "text"})

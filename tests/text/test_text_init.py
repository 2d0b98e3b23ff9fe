"""new_ids="text": ridge map from text embeddings to item rows, in finetune and partial_fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rectune.data.interactions import Interactions
from rectune.data.synthetic import generate
from rectune.errors import ConfigError
from rectune.models import create_model
from rectune.text.item_text import cold_item_text, launch_text, strip_tags
from rectune.text.text_init import RidgeMap, text_rows
from rectune.training import TrainConfig
from rectune.training.init import init_rows
from rectune.training.strategy import FinetuneStrategy


def test_ridge_map_recovers_linear_map_and_picks_penalty() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    w = rng.normal(size=(8, 2))
    clean = RidgeMap().fit(x, x @ w + 3.0)
    assert clean.reg_ <= 0.1
    np.testing.assert_allclose(clean.predict(x[:5]), x[:5] @ w + 3.0, atol=0.05)
    noisy = RidgeMap().fit(x, rng.normal(size=(300, 2)))  # no signal: heavy shrinkage
    assert noisy.reg_ >= 10
    assert RidgeMap(reg=2.0).fit(x, x @ w).reg_ == 2.0


def test_item_text_helpers() -> None:
    assert launch_text("Heat", year=1995, genres="Crime") == "Heat (1995) | Crime"
    assert strip_tags("A (1990) | Drama | tags: x, y") == "A (1990) | Drama"
    assert strip_tags("no tags here") == "no tags here"
    text = pd.Series({1: "A | tags: t", 2: "B | tags: u"})
    assert cold_item_text(text, np.array([1])).tolist() == ["A", "B | tags: u"]
    assert cold_item_text(None, [1]) is None


def test_text_rows_fallbacks_and_errors(tiny_bert) -> None:
    known = np.arange(8, dtype=np.float32).reshape(4, 2)
    text = pd.Series({1: "galaxy robot", 2: "love kiss", 3: "galaxy orbit", 4: "summer love"})
    rows = text_rows(known, text, np.array([1, 2, 3, 4]), np.array([5, 9]), encoder=tiny_bert)
    np.testing.assert_allclose(rows[1], known.mean(axis=0))  # 9 has no text: the mean
    more = pd.concat([text, pd.Series({5: "galaxy quest"})])
    rows = text_rows(known, more, np.array([1, 2, 3, 4]), np.array([5]), encoder=tiny_bert)
    assert rows.shape == (1, 2) and np.all(np.isfinite(rows))
    with pytest.raises(ConfigError, match="needs item text"):
        text_rows(known, None, np.array([1, 2]), np.array([5]))
    with pytest.raises(ConfigError, match="fewer than two"):
        text_rows(known, pd.Series({1: "x"}), np.array([1, 2, 3, 4]), np.array([5]))
    users = init_rows("text", known, 2, what="user")  # users have no text: the mean
    np.testing.assert_allclose(users, np.broadcast_to(known.mean(axis=0), (2, 2)))


def _cold_setup(seed: int = 3) -> tuple[Interactions, Interactions, Interactions]:
    """Warm rows, one support event per cold item, and the cold items' other rows."""
    data = generate(
        n_users=300, n_items=400, n_interactions=15000, seed=seed, new_item_fraction=0.0
    )
    rng = np.random.default_rng(0)
    cold = rng.choice(np.unique(data.items), 60, replace=False)
    rows = np.flatnonzero(np.isin(data.items, cold))
    _, first = np.unique(data.items[rows], return_index=True)
    rest = np.setdiff1d(rows, rows[first])
    return data.subset(~np.isin(data.items, cold)), data.subset(rows[first]), data.subset(rest)


def _cold_auc(model, test: Interactions) -> float:
    """Mean per-user AUC of the user's cold test items against the other cold items."""
    cand = np.unique(test.item_ids)
    scores = model.score_users_indices(model.user_map_.index_of(np.unique(test.user_ids)))
    scores = scores[:, model.item_map_.index_of(cand)]
    frame = test.to_frame()
    aucs = []
    for row, (_, items) in enumerate(frame.groupby("user_id")["item_id"]):
        pos = np.isin(cand, items.to_numpy())
        if pos.all() or not pos.any():
            continue
        p, n = scores[row, pos][:, None], scores[row, ~pos][None, :]
        aucs.append(float((p > n).mean() + 0.5 * (p == n).mean()))
    return float(np.mean(aucs))


@pytest.mark.slow
def test_text_init_ranks_new_items_better_than_mean() -> None:
    """Synthetic item text carries the items' factors: text-started new items rank better."""
    warm, support, test = _cold_setup()
    auc = {}
    for init in ("mean", "text"):
        model = create_model("svd", embedding_size=8, epochs=20).fit(warm)
        # epochs=0: only the new rows' initialisation is measured.
        model.finetune(support, train=TrainConfig(epochs=0), strategy={"new_ids": init})
        auc[init] = _cold_auc(model, test)
    assert auc["mean"] == pytest.approx(0.5, abs=0.01)  # identical rows: ties
    assert auc["text"] > auc["mean"] + 0.05, auc  # measured 0.60 vs 0.50


def test_text_init_in_partial_fit_and_torch_models(tiny_bert) -> None:
    warm, support, _ = _cold_setup(seed=4)
    strategy = {"new_ids": "text", "text_encoder": tiny_bert}
    bpr = create_model("bpr", embedding_size=4, epochs=2).fit(warm)
    before = bpr.item_factors_.copy()
    bpr.partial_fit(support, train=TrainConfig(epochs=0), strategy=strategy)
    new = bpr.item_factors_[len(before) :]
    assert new.shape[0] == len(np.unique(support.items))
    assert np.ptp(new, axis=0).max() > 0  # rows differ by text (the mean would be constant)
    np.testing.assert_array_equal(bpr.item_factors_[: len(before)], before)
    ncf = create_model("ncf", embedding_size=4, layers=[8], epochs=1).fit(warm)
    ncf.finetune(support, train=TrainConfig(epochs=0), strategy=strategy)
    table = ncf.module_.item_factors.weight.detach().numpy()
    assert np.ptp(table[-len(new) :], axis=0).max() > 0
    with pytest.raises(ConfigError, match="partial_fit takes only"):
        bpr.partial_fit(support, strategy={"l2sp": 0.1})
    with pytest.raises(ConfigError, match="new_ids=text"):
        create_model("item-knn").fit(warm).partial_fit(support, strategy=strategy)
    assert FinetuneStrategy.parse("new_ids=text;text_encoder=x").text_encoder == "x"


def test_one_process_wide_encoder_cache(tiny_bert) -> None:
    """`new_ids=text` and frozen text models share `shared_encoder` (one cache, one object)."""
    from rectune.text.encoder import shared_encoder
    from rectune.text.text_init import get_encoder

    assert get_encoder(tiny_bert) is shared_encoder(tiny_bert)
    model = create_model("text", encoder=tiny_bert, epochs=0, max_length=128)
    model.fit(generate(n_users=40, n_items=30, n_interactions=300, seed=0))
    assert model.encoder is shared_encoder(tiny_bert, max_length=128)

"""SVD's per-event API (`learn_one`, `predict_one`, `predict_learn_one`, `start_online`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rectune import Interactions, load
from rectune.errors import DataError
from rectune.models.mf import SVD, SVDConfig
from rectune.testing import low_rank
from rectune.training.config import TrainConfig


def _stream(n_users: int = 40, n_items: int = 30, seed: int = 0) -> Interactions:
    data = low_rank(n_users=n_users, n_items=n_items, density=0.4, seed=seed)
    return data.subset(np.argsort(data.timestamps, kind="stable"))


def _events(data: Interactions) -> list[tuple]:
    ids = data.user_ids.tolist(), data.item_ids.tolist()
    return list(zip(*ids, data.values.tolist(), strict=True))


CFG = SVDConfig.from_river_biased_mf(n_factors=4)


@pytest.mark.parametrize("rating_range", [(1.0, 5.0), None])
def test_per_event_loops_equal_the_compiled_prequential_from_scratch(rating_range) -> None:
    data = _stream()
    clip = {} if rating_range is None else {"clip": rating_range}
    compiled = SVD(CFG).prequential(data, seed=7, **clip)
    one = SVD(CFG).start_online(seed=7, rating_range=rating_range)
    fused = [one.predict_learn_one(u, i, y) for u, i, y in _events(data)]
    two = SVD(CFG).start_online(seed=7, rating_range=rating_range)
    split = []
    for u, i, y in _events(data):
        split.append(two.predict_one(u, i))  # new ids: the rows they will get, as River
        two.learn_one(u, i, y)
    np.testing.assert_allclose(fused, compiled, rtol=0, atol=1e-12)
    np.testing.assert_allclose(split, compiled, rtol=0, atol=1e-12)
    for a, b in zip(one.get_state().values(), two.get_state().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert one.seen_.nnz == len(data) and one.fit_info_["n_interactions"] == len(data)


def test_running_range_covers_every_value_learned() -> None:
    # Regression: fast-math kernels treated the NaN "no bound yet" as a number, so the upper
    # bound stayed NaN forever and every later `predict_one` returned NaN.
    model = SVD(CFG)
    for u, i, y in [(1, 2, 3.0), (2, 3, 5.0), (1, 3, 1.0)]:
        model.learn_one(u, i, y)
    assert model.rating_range_.tolist() == [1.0, 5.0]
    assert math.isfinite(model.predict_one(1, 3)) and math.isfinite(model.predict_one(9, 9))


def test_fitted_model_grows_many_ids_like_prequential() -> None:
    # More new ids than the spare capacity and the draws queued ahead: both must regrow.
    old, new = _stream(seed=1), low_rank(n_users=1500, n_items=300, density=0.01, seed=2)
    new = Interactions.from_raw([f"u{x}" for x in new.user_ids], new.item_ids + 1000, new.values)
    a = SVD(embedding_size=3, epochs=3).fit(old, train=TrainConfig(seed=0))
    b = SVD(embedding_size=3, epochs=3).fit(old, train=TrainConfig(seed=0))
    compiled = a.prequential(new)
    per_event = [b.predict_learn_one(u, i, y) for u, i, y in _events(new)]
    np.testing.assert_allclose(per_event, compiled, rtol=0, atol=1e-12)
    sa, sb = a.get_state(), b.get_state()
    assert sorted(sa) == sorted(sb)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
    assert a.user_map_ == b.user_map_ and a.item_map_ == b.item_map_
    assert len(sb["user_factors"]) == len(b.user_map_)  # no spare rows in the state


@pytest.mark.parametrize(
    "event",
    [(None, 1, 4.0), (1, None, 4.0), (math.nan, 1, 4.0), (1, 1, math.nan), (1, 1, math.inf),
     (1, 1, None), (1, 1, "x"), (1, 1, np.float64("nan"))],
)  # fmt: skip
@pytest.mark.parametrize("method", ["learn_one", "predict_learn_one"])
def test_bad_events_raise_before_changing_the_model(event, method) -> None:
    model = SVD(CFG).start_online(seed=0)
    for u, i, y in _events(_stream())[:50]:
        model.learn_one(u, i, y)  # the fast path is warm
    before = {k: v.copy() for k, v in model.get_state().items()}
    maps = (model.user_map_.copy(), model.item_map_.copy())
    n = model.fit_info_["n_interactions"]
    with pytest.raises(DataError, match="row 0, field"):
        getattr(model, method)(*event)
    after = model.get_state()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    assert (model.user_map_, model.item_map_) == maps and model.fit_info_["n_interactions"] == n


def test_unfitted_model_refuses_a_bad_first_event_and_stays_unfitted() -> None:
    model = SVD(CFG)
    with pytest.raises(DataError):
        model.learn_one(1, 2, math.nan)
    assert not model.is_fitted


def test_save_load_after_per_event_learning_round_trips(tmp_path) -> None:
    model = SVD(CFG).start_online(seed=3, rating_range=(1.0, 5.0))
    for u, i, y in _events(_stream()):
        model.learn_one(u, i, y)
    model.save(tmp_path / "m")
    assert model.artifact_ is not None
    back = load(tmp_path / "m")
    state, loaded = model.get_state(), back.get_state()
    assert sorted(state) == sorted(loaded)
    for key in state:
        np.testing.assert_array_equal(loaded[key], state[key], err_msg=key)
    assert len(loaded["user_factors"]) == len(model.user_map_) == len(back.user_map_)
    users, items = model.user_map_.ids[:10], model.item_map_.ids[:10]
    np.testing.assert_array_equal(back.predict(users, items), model.predict(users, items))
    model.learn_one(users[0], items[0], 5.0)
    assert model.artifact_ is None  # diverged from the saved artifact


def test_per_event_learning_after_partial_fit_sees_the_grown_maps() -> None:
    old = _stream()
    model = SVD(embedding_size=3, epochs=3).fit(old)
    model.learn_one(old.user_ids[0], old.item_ids[0], 4.0)  # caches built
    model.partial_fit(Interactions.from_raw(["new"] * 3, old.item_ids[:3], [5.0, 4.0, 3.0]))
    n_users = len(model.user_map_)
    model.learn_one("new", old.item_ids[0], 1.0)  # known now: no second row
    assert len(model.user_map_) == n_users == len(model.user_factors_)
    assert model.seen_.shape == (n_users, len(model.item_map_))

"""Checks every rectune model must pass, shipped with the package (like scikit-learn's
``check_estimator`` and implicit's ``RecommenderBase`` test mixin).

`CHECKS` maps a name to a function ``check(make_model, data)``; `run_checks` runs them all.
``make_model`` returns a fresh unfitted model; ``data`` is a small `Interactions` set.
"""

from __future__ import annotations

import copy
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models.base import Recommender
from rectune.registry.artifacts import load_model
from rectune.training.config import TrainConfig
from rectune.training.settings import ITEM_ROW_STARTS

ModelFactory = Callable[[], Recommender]


def check_config_round_trip(make_model: ModelFactory, data: Interactions) -> None:
    """The config survives a dict/JSON round trip and rebuilds an equal model config."""
    model = make_model()
    cfg = model.config
    again = type(model)(type(cfg).from_dict(cfg.to_dict()))
    assert again.config == cfg
    assert type(model)(**cfg.to_dict()).config == cfg


def check_fit_returns_self(make_model: ModelFactory, data: Interactions) -> None:
    model = make_model()
    assert model.fit(data) is model
    assert model.is_fitted


def check_recommend_shapes_and_unseen(make_model: ModelFactory, data: Interactions) -> None:
    """Recommendations have the asked shape, are sorted, and hold no already-seen items."""
    model = make_model().fit(data)
    users = np.unique(data.user_ids)[:7]
    ids, scores = model.recommend(users, n=5)
    assert ids.shape == (len(users), 5) and scores.shape == (len(users), 5)
    assert np.all(np.diff(scores, axis=1) <= 1e-9), "scores must be sorted best first"
    frame = data.to_frame()
    for row, user in enumerate(users):
        seen = set(frame.loc[frame.user_id == user, "item_id"])
        valid = np.isfinite(scores[row])
        assert not seen & set(ids[row][valid].tolist()), f"seen item recommended to {user}"
        assert len(set(ids[row][valid].tolist())) == int(valid.sum()), "duplicate items"


def check_unknown_ids_fall_back(make_model: ModelFactory, data: Interactions) -> None:
    """Unknown users and items get finite estimates; unknown users get popular items."""
    model = make_model().fit(data)
    item = data.item_ids[0]
    user = data.user_ids[0]
    unknown_u = "never-seen-user" if data.user_ids.dtype == object else -987654
    unknown_i = "never-seen-item" if data.item_ids.dtype == object else -987654
    est = model.predict([unknown_u, user, unknown_u], [item, unknown_i, unknown_i])
    assert np.all(np.isfinite(est))
    ids, _ = model.recommend([unknown_u], n=3, exclude_seen=True)
    top_pop = model.item_map_.ids[np.argsort(-model.item_popularity_, kind="stable")[:3]]
    assert set(ids[0].tolist()) == set(top_pop.tolist())


def check_save_load_identical(make_model: ModelFactory, data: Interactions) -> None:
    """A loaded artifact predicts and recommends exactly as the saved model."""
    model = make_model().fit(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "artifact"
        model.save(str(path))
        loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    users, items = data.user_ids[:50], data.item_ids[:50]
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    a = model.recommend(np.unique(users), n=5)
    b = loaded.recommend(np.unique(users), n=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@contextmanager
def parallel_paths() -> Iterator[None]:
    """Every parallel training kernel taken whatever the data size (work thresholds at 0)."""
    modules = [sys.modules.get(m) for m in _PARALLEL_MODULES]
    saved = [(m, m.PARALLEL_MIN_WORK) for m in modules if m is not None]
    for m, _ in saved:
        m.PARALLEL_MIN_WORK = 0
    try:
        yield
    finally:
        for m, value in saved:
            m.PARALLEL_MIN_WORK = value


#: Modules whose ``PARALLEL_MIN_WORK`` picks a parallel kernel above a work size.
_PARALLEL_MODULES = ("rectune.models.mf.svd", "rectune.models.implicit.bpr")


def check_deterministic(make_model: ModelFactory, data: Interactions) -> None:
    """The same seed, data and thread count give bit-identical scores, also on the parallel
    kernels (forced on by `parallel_paths`, two threads) and after a fine-tune."""
    train = TrainConfig(seed=3, threads=2)
    with parallel_paths():
        runs = [make_model().fit(data, train=train) for _ in range(2)]
        scores = [m.score_users_indices(np.arange(len(m.user_map_))) for m in runs]
        np.testing.assert_array_equal(scores[0], scores[1], err_msg="fit")
        users, items = data.user_ids[:100], data.item_ids[:100]
        np.testing.assert_array_equal(runs[0].predict(users, items), runs[1].predict(users, items))
        new = data.subset(np.arange(len(data)) % 3 == 0)
        try:
            for m in runs:
                m.finetune(new, train=TrainConfig(seed=4, threads=2))
        except ConfigError:
            return  # the model does not fine-tune
        scores = [m.score_users_indices(np.arange(len(m.user_map_))) for m in runs]
        np.testing.assert_array_equal(scores[0], scores[1], err_msg="finetune")


def check_batch_equals_loop(make_model: ModelFactory, data: Interactions) -> None:
    """Batched predict/recommend equal one call per pair/user."""
    model = make_model().fit(data)
    users, items = data.user_ids[:20], data.item_ids[:20]
    batch = model.predict(users, items)
    loop = np.array([model.predict([u], [i])[0] for u, i in zip(users, items, strict=True)])
    np.testing.assert_allclose(batch, loop, rtol=1e-9, atol=1e-9)
    some = np.unique(users)[:4]
    _ids, scores = model.recommend(some, n=4)
    for row, u in enumerate(some):
        _one_ids, one_scores = model.recommend([u], n=4)
        np.testing.assert_allclose(one_scores[0], scores[row], rtol=1e-6, atol=1e-6)


def check_refit_starts_over(make_model: ModelFactory, data: Interactions) -> None:
    """A second fit forgets the first: fit(A); fit(B) equals fit(B)."""
    half = data.subset(np.arange(len(data)) % 2 == 0)
    model = make_model().fit(half).fit(data)
    fresh = make_model().fit(data)
    users, items = data.user_ids[:50], data.item_ids[:50]
    np.testing.assert_allclose(model.predict(users, items), fresh.predict(users, items), atol=1e-6)
    assert len(model.user_map_) == len(fresh.user_map_)


def check_similar_items(make_model: ModelFactory, data: Interactions) -> None:
    """`similar_items` is batch-first and sorted, never returns the item itself, gives -inf
    rows for unknown items; a model without item similarities says so, naming itself."""
    model = make_model().fit(data)
    items = np.unique(data.item_ids)[:3]
    unknown = "never-seen-item" if data.item_ids.dtype == object else -987654
    try:
        ids, scores = model.similar_items([*items.tolist(), unknown], n=4)
    except ConfigError as exc:
        assert model.name in str(exc) and "similar_items" in str(exc), str(exc)
        return
    assert ids.shape == scores.shape == (len(items) + 1, 4)
    assert np.all(np.diff(scores[: len(items)], axis=1) <= 1e-9), "scores must be sorted"
    assert np.all(np.isneginf(scores[-1])), "an unknown item has no similar items"
    for row, item in enumerate(items):
        valid = np.isfinite(scores[row])
        assert valid.any(), f"no similar items for {item}"
        assert item not in set(ids[row][valid].tolist()), f"{item} is similar to itself"
    _, one_scores = model.similar_items(items[:1], n=4)
    np.testing.assert_allclose(one_scores[0], scores[0], rtol=1e-6, atol=1e-9)


#: Item text of the two themes `check_add_items` gives items (by index parity).
_THEMES = (
    ("Galaxy", "Starship", "Android", "Orbit", "Nebula", "| Sci-Fi, Space adventure"),
    ("Wedding", "Kiss", "Summer Love", "Moonlight", "Heart", "| Romance, Love story"),
)


def _catalogue(ids: np.ndarray) -> tuple[pd.Series, pd.DataFrame]:
    """Text and features of items, the theme alternating with the position."""
    theme = np.arange(len(ids)) % 2
    text = [
        f"{_THEMES[t][k % 5]} {_THEMES[t][(k + 2) % 5]} {_THEMES[t][5]}"
        for k, t in enumerate(theme)
    ]
    feats = pd.DataFrame({"scifi": 1 - theme, "year": 1990.0 + np.arange(len(ids)) % 7}, index=ids)
    return pd.Series(text, index=ids, dtype=object), feats


def check_add_items(make_model: ModelFactory, data: Interactions) -> None:
    """`add_items`: catalogue items with text and features but no interactions become
    recommendable with every start the model declares (``add_items_settings``; text and
    features starts tell items apart), survive save/load and later events; any other start
    (all of them, for a model that declares none) is refused, naming the model and the
    setting, with the model unchanged. Known ids are skipped."""
    known_ids = np.unique(data.item_ids)
    text, feats = _catalogue(known_ids)
    warm = replace(data, item_text=text, item_features=feats)
    parent = make_model().fit(warm)
    honoured = parent.honoured_settings("add_items")
    assert honoured <= ITEM_ROW_STARTS, f"{parent.name} declares {set(honoured)}"
    if known_ids.dtype == object:
        new = np.array(["new-a", "new-b"], dtype=object)
    else:
        new = np.array([known_ids.max() + 1000, known_ids.max() + 2000])
    new_text, new_feats = _catalogue(new)
    all_text, all_feats = pd.concat([text, new_text]), pd.concat([feats, new_feats])
    users = np.unique(data.user_ids)[:5]
    checked_round_trip = False
    for method in ("text", "features", "mean", "zeros"):  # every start of ITEM_ROW_STARTS
        token = f"new_ids={method}"
        model = copy.deepcopy(parent)
        n_items = len(model.item_map_)
        add = partial(
            model.add_items,
            [known_ids[0], *new.tolist()],
            item_text=all_text,
            item_features=all_feats,
            new_ids=method,
        )
        if token not in honoured:
            try:
                add()
            except ConfigError as exc:
                assert model.name in str(exc) and token in str(exc), str(exc)
                assert len(model.item_map_) == n_items, "a refused add_items changed the model"
                continue
            raise AssertionError(f"{model.name}: add_items accepted undeclared {token}")
        assert add() == 2 and add() == 0, f"{token}: known ids must be skipped"
        assert len(model.item_map_) == n_items + 2
        est = model.predict(np.repeat(users, 2), np.tile(new, len(users)))
        assert np.all(np.isfinite(est)), f"{token}: non-finite estimates for new items"
        scores = model.score_users_indices(model.user_map_.index_of(users))
        assert np.all(np.isfinite(scores)), f"{token}: non-finite scores"
        cols = model.item_map_.index_of(new)
        if method in ("text", "features"):
            assert np.any(scores[:, cols[0]] != scores[:, cols[1]]), f"{token}: rows identical"
        ids, top = model.recommend(users[:2], n=len(model.item_map_))
        for row in range(2):
            got = set(ids[row][np.isfinite(top[row])].tolist())
            assert set(new.tolist()) <= got, f"{token}: new items not recommendable"
        try:
            sim_ids, _ = model.similar_items(new[:1], n=3)
        except ConfigError as exc:
            assert "similar_items" in str(exc), str(exc)
        else:
            assert new[0] not in set(sim_ids[0].tolist())
        if not checked_round_trip:
            checked_round_trip = True
            _check_round_trip_and_events(model, users, new)


def _check_round_trip_and_events(model: Recommender, users: np.ndarray, new: np.ndarray) -> None:
    """Items added survive save/load exactly, and a later event on one of them is learned."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save(str(Path(tmp) / "a"))
        loaded = load_model(Path(tmp) / "a")
    pairs = (np.repeat(users, 2), np.tile(new, len(users)))
    np.testing.assert_allclose(loaded.predict(*pairs), model.predict(*pairs), rtol=1e-6, atol=1e-6)
    value = 5.0 if model.data_kind_ == "rating" else 1.0
    kind = model.data_kind_
    events = Interactions.from_raw(users[:2], new[:1].repeat(2), [value] * 2, kind=kind)  # type: ignore[arg-type]
    loaded.partial_fit(events)
    assert len(loaded.item_map_) == len(model.item_map_)
    assert loaded.seen_[
        loaded.user_map_.index_of(users[:1])[0], loaded.item_map_.index_of(new[:1])[0]
    ]
    assert np.all(np.isfinite(loaded.predict(*pairs)))


CHECKS: dict[str, Callable[[ModelFactory, Interactions], None]] = {
    "config_round_trip": check_config_round_trip,
    "fit_returns_self": check_fit_returns_self,
    "recommend_shapes_and_unseen": check_recommend_shapes_and_unseen,
    "unknown_ids_fall_back": check_unknown_ids_fall_back,
    "save_load_identical": check_save_load_identical,
    "deterministic": check_deterministic,
    "batch_equals_loop": check_batch_equals_loop,
    "refit_starts_over": check_refit_starts_over,
    "similar_items": check_similar_items,
    "add_items": check_add_items,
}


def run_checks(make_model: ModelFactory, data: Interactions) -> None:
    """Run every conformance check; the first failure raises AssertionError."""
    for check in CHECKS.values():
        check(make_model, data)

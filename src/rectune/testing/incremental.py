"""Fine-tuning and incremental-update checks every model must pass (DESIGN.md).

`INCREMENTAL_CHECKS` maps a name to ``check(make_model, data)``, like `rectune.testing.CHECKS`:
new users and items through `partial_fit`, caches rebuilt, frozen groups bit-identical, a huge
L2-SP lambda keeping the parent, lambda 0 equal to plain continued training, clear errors for
bad strategies, and lineage recorded in the child artifact.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models.base import Recommender
from rectune.registry.artifacts import load_model
from rectune.training.config import TrainConfig

ModelFactory = Callable[[], Recommender]


def halves(data: Interactions) -> tuple[Interactions, Interactions]:
    """The first 70% of rows (by timestamp if any) and the rest, restricted to known ids."""
    order = np.argsort(data.timestamps, kind="stable") if data.timestamps is not None else None
    rows = np.arange(len(data)) if order is None else order
    cut = int(0.7 * len(data))
    old, new = data.subset(rows[:cut]), data.subset(rows[cut:])
    known = np.isin(new.users, old.users) & np.isin(new.items, old.items)
    return old, new.subset(known)


def _new_entity_rows(data: Interactions) -> Interactions:
    """A new user rating 6 known items and a new item rated by 6 known users."""
    users = np.unique(data.user_ids)[:6]
    items = np.unique(data.item_ids)[:6]
    string_users = data.user_ids.dtype == object
    string_items = data.item_ids.dtype == object
    new_user = "brand-new-user" if string_users else int(np.max(data.user_ids)) + 1000
    new_item = "brand-new-item" if string_items else int(np.max(data.item_ids)) + 1000
    u = np.array([new_user] * 6 + list(users), dtype=object if string_users else np.int64)
    i = np.array(list(items) + [new_item] * 6, dtype=object if string_items else np.int64)
    v = np.array([5.0, 4, 5, 1, 2, 4] * 2) if data.kind == "rating" else np.ones(12)
    return Interactions.from_raw(u, i, v, np.arange(12) + 2_000_000_000, kind=data.kind)


def _two_epochs(model: Recommender, seed: int, epochs: int = 2) -> TrainConfig:
    """Two fine-tuning epochs where the model honours ``epochs`` (else its own count)."""
    if "epochs" in model.honoured_settings("finetune"):
        return TrainConfig(seed=seed, epochs=epochs)
    return TrainConfig(seed=seed)


def check_partial_fit_new_user_and_item(make_model: ModelFactory, data: Interactions) -> None:
    """New ids get rows without retraining; they are predicted and excluded like others."""
    old, _ = halves(data)
    model = make_model().fit(old)
    n_u, n_i = len(model.user_map_), len(model.item_map_)
    events = _new_entity_rows(old)
    assert model.partial_fit(events) is model
    assert len(model.user_map_) == n_u + 1 and len(model.item_map_) == n_i + 1
    new_user, new_item = events.user_ids[0], events.item_ids[-1]
    assert new_user in model.user_map_ and new_item in model.item_map_
    est = model.predict([new_user, events.user_ids[-1]], [events.item_ids[0], new_item])
    assert np.all(np.isfinite(est))
    ids, scores = model.recommend([new_user], n=5)
    rated = set(events.item_ids[:6].tolist())
    assert not rated & set(ids[0][np.isfinite(scores[0])].tolist()), "rated item recommended"
    scores_all = model.score_users_indices(model.user_map_.index_of([new_user]))
    assert np.all(np.isfinite(scores_all)), "new user has non-finite scores"


def check_partial_fit_caches_rebuilt(make_model: ModelFactory, data: Interactions) -> None:
    """After updates the model predicts exactly as its own save/load round trip."""
    old, new = halves(data)
    model = make_model().fit(old).partial_fit(new).partial_fit(_new_entity_rows(old))
    with tempfile.TemporaryDirectory() as tmp:
        model.save(str(Path(tmp) / "a"))
        loaded = load_model(Path(tmp) / "a")
    users, items = data.user_ids[:60], data.item_ids[:60]
    np.testing.assert_allclose(
        loaded.predict(users, items), model.predict(users, items), rtol=1e-6, atol=1e-6
    )
    a, b = model.recommend(users[:5], n=5), loaded.recommend(users[:5], n=5)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-5)


def check_finetune_frozen_groups_bit_identical(
    make_model: ModelFactory, data: Interactions
) -> None:
    old, new = halves(data)
    parent = make_model().fit(old)
    for group in parent.param_groups:
        model = make_model().fit(old)
        before = np.array(model.parameter_groups()[group], copy=True)
        model.finetune(new, train=_two_epochs(model, 1), strategy={"freeze": [group]})
        after = model.parameter_groups()[group]
        np.testing.assert_array_equal(after[: before.shape[0]], before, err_msg=group)


def check_finetune_huge_l2sp_stays_at_parent(make_model: ModelFactory, data: Interactions) -> None:
    old, new = halves(data)
    model = make_model().fit(old)
    if not model.param_groups:
        return
    before = {g: np.array(a, copy=True) for g, a in model.parameter_groups().items()}
    model.finetune(new, train=_two_epochs(model, 1), strategy={"l2sp": 1e12})
    for g, a in model.parameter_groups().items():
        np.testing.assert_allclose(a[: before[g].shape[0]], before[g], atol=1e-5, err_msg=g)


def check_finetune_lambda0_is_plain(make_model: ModelFactory, data: Interactions) -> None:
    old, new = halves(data)
    parent = make_model().fit(old)
    a = parent.finetune(new, train=_two_epochs(parent, 2))
    b = make_model().fit(old).finetune(new, train=_two_epochs(parent, 2), strategy={"l2sp": 0.0})
    users, items = data.user_ids[:80], data.item_ids[:80]
    np.testing.assert_array_equal(a.predict(users, items), b.predict(users, items))


def check_bad_strategies_are_clear_errors(make_model: ModelFactory, data: Interactions) -> None:
    old, new = halves(data)
    model = make_model().fit(old)
    for bad, words in (
        ("no-such-preset", ("unknown strategy",)),
        ({"freeze": ["no_such_group"]}, ("no parameter group", "cannot honour setting")),
        ({"l2sp": {"no_such_group": 1.0}}, ("no parameter group", "cannot honour setting")),
        ({"replay": -1}, ("replay",)),
        ({"new_ids": "telepathy"}, ("new_ids",)),
    ):
        try:
            model.finetune(new, strategy=bad)
        except ConfigError as exc:
            assert any(w in str(exc) for w in words), f"{bad!r}: {exc}"
        else:
            raise AssertionError(f"strategy {bad!r} was accepted")


def check_finetune_records_lineage(make_model: ModelFactory, data: Interactions) -> None:
    old, new = halves(data)
    model = make_model().fit(old)
    with tempfile.TemporaryDirectory() as tmp:
        parent_id = model.save(str(Path(tmp) / "v1"))
        child = load_model(Path(tmp) / "v1")
        child.finetune(new, train=_two_epochs(child, 0, epochs=1))
        child.save(str(Path(tmp) / "v2"))
        lineage = json.loads((Path(tmp) / "v2" / "lineage.json").read_text())
    assert lineage["parent"]["id"] == parent_id
    assert lineage["data_fingerprint"] == new.fingerprint()
    assert lineage["strategy"] is not None


INCREMENTAL_CHECKS: dict[str, Callable[[ModelFactory, Interactions], None]] = {
    "partial_fit_new_user_and_item": check_partial_fit_new_user_and_item,
    "partial_fit_caches_rebuilt": check_partial_fit_caches_rebuilt,
    "finetune_frozen_groups_bit_identical": check_finetune_frozen_groups_bit_identical,
    "finetune_huge_l2sp_stays_at_parent": check_finetune_huge_l2sp_stays_at_parent,
    "finetune_lambda0_is_plain": check_finetune_lambda0_is_plain,
    "bad_strategies_are_clear_errors": check_bad_strategies_are_clear_errors,
    "finetune_records_lineage": check_finetune_records_lineage,
}

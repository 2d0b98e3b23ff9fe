"""Every model x every training / strategy setting: honoured (the result changes) or refused.

Issue 7, section 2: a setting a model cannot honour is a `ConfigError` naming the setting and
the model, never recorded while changing nothing. For each model and phase (``fit``,
``finetune``, ``partial_fit``) and each setting token of `rectune.training.settings`, a run that
asks for the setting either gives a different result from the same run without it (the model
declares the token in `Recommender.honoured_settings`) or is refused.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models import create_model
from rectune.models.base import Recommender
from rectune.testing import two_clusters
from rectune.testing.incremental import halves
from rectune.training import TrainConfig
from tests.test_conformance import FAST_PARAMS, MODEL_NAMES, _tiny_text_encoder

#: Runs of a setting: token -> (train settings, strategy settings) of the run asking for it.
TRAIN_CASES: dict[str, dict[str, Any]] = {
    "learning_rate": {"learning_rate": 0.0123},
    "epochs": {"epochs": 7},
    "schedule": {"schedule": "cosine"},
    "warmup": {"warmup_epochs": 2},
    "early_stopping": {"early_stopping": 1},
}
STRATEGY_CASES: dict[str, dict[str, Any]] = {
    "l2sp": {"l2sp": 0.5},
    "freeze": {"freeze": "TRAINED"},  # a group that plain fine-tuning changes
    "clip_norm": {"clip_norm": 0.001},
    "replay": {"replay": 1.0},
    "augment=pseudo": {"augment": "pseudo"},
    "augment=negatives": {"augment": "negatives"},
    "augment=popular-negatives": {"augment": "popular-negatives"},
    "new_ids=zeros": {"new_ids": "zeros"},
    "new_ids=mean": {"new_ids": "mean"},
    "new_ids=features": {"new_ids": "features"},
    "new_ids=neighbors": {"new_ids": "neighbors"},
    "new_ids=text": {"new_ids": "text", "text_encoder": "TINY"},
}
#: Declared and honoured, but by construction equal to the default run.
SAME_AS_DEFAULT = {
    # The text model's new items always start from their text: new_ids=text is its default.
    ("text", "finetune", "new_ids=text"),
    # text-hybrid's new items have no id part yet (gate 0): their vectors are their text's.
    ("text-hybrid", "finetune", "new_ids=text"),
    # content-kNN gives new items the TF-IDF vectors of their text, whatever new_ids says.
    ("content-knn", "finetune", "new_ids=text"),
    ("content-knn", "partial_fit", "new_ids=text"),
}


def _make(name: str, **overrides: Any) -> Recommender:
    params = {**FAST_PARAMS.get(name, {}), **overrides}
    return create_model(name, **params)


@cache
def _data() -> tuple[Interactions, Interactions]:
    """Old rows, and new rows that also bring a new user and a new item (with side data)."""
    old, new = halves(two_clusters())
    users = np.unique(old.user_ids)[:6]
    items = np.unique(old.item_ids)[:6]
    f = new.to_frame()
    extra = pd.DataFrame(
        {
            "user_id": ["brand-new-user"] * 6 + list(users),
            "item_id": list(items) + [9999] * 6,
            "rating": [5.0, 4, 5, 1, 2, 4] * 2,
            "timestamp": np.arange(12) + 2_000_000_000,
        }
    )
    f = pd.concat([f[extra.columns], extra], ignore_index=True)
    rng = np.random.default_rng(0)
    all_u = np.unique(np.concatenate([old.user_ids, f.user_id.to_numpy(object)]))
    all_i = np.unique(np.concatenate([old.item_ids, f.item_id.to_numpy()]))
    user_features = pd.DataFrame({"age": rng.normal(size=len(all_u))}, index=all_u)
    item_features = pd.DataFrame({"year": rng.normal(size=len(all_i))}, index=all_i)
    text = pd.Series([f"item {i} {'even' if i % 2 else 'odd'} words" for i in all_i], index=all_i)
    side = {"user_features": user_features, "item_features": item_features, "item_text": text}
    new2 = Interactions.from_raw(
        f.user_id.to_numpy(object), f.item_id.to_numpy(), f.rating.to_numpy(),
        f.timestamp.to_numpy(), **side,
    )  # fmt: skip
    old2 = Interactions.from_raw(
        old.user_ids, old.item_ids, old.values, old.timestamps, item_text=text
    )
    return old2, new2


@cache
def _parent(name: str) -> Recommender:
    return _make(name).fit(_data()[0], train=TrainConfig(seed=1))


def _scores(model: Recommender) -> np.ndarray:
    return model.score_users_indices(np.arange(len(model.user_map_)))


def _run(
    name: str,
    phase: str,
    train: dict[str, Any],
    strategy: dict[str, Any] | None,
    rows: int = 0,
    **params: Any,
) -> Any:
    cfg = TrainConfig(seed=1, **train)
    if phase == "fit":
        return _scores(_make(name, **params).fit(_data()[0], train=cfg))
    model = copy.deepcopy(_parent(name))
    new = _data()[1]
    new = new.subset(np.arange(rows)) if rows else new
    getattr(model, phase)(new, train=cfg, strategy=strategy)
    return _scores(model)


def _trained_group(name: str) -> str | None:
    parent = _parent(name)
    child = copy.deepcopy(parent).finetune(_data()[1], train=TrainConfig(seed=1))
    before, after = parent.parameter_groups(), child.parameter_groups()
    for group, value in before.items():
        if not np.array_equal(after[group][: len(value)], value):
            return group
    return None


def _strategy(name: str, case: dict[str, Any]) -> dict[str, Any] | None:
    out = dict(case)
    if out.get("freeze") == "TRAINED":
        group = _trained_group(name)
        if group is None:
            return None
        out["freeze"] = [group]
    if out.get("text_encoder") == "TINY":
        out["text_encoder"] = _tiny_text_encoder()
    return out


def _token(case: str) -> str:
    return "schedule" if case == "warmup" else case


def _expect(name: str, phase: str, token: str, run: Any, base: Any, extra: set[str]) -> None:
    """Honoured: the run differs from ``base``; not honoured: `run` raises naming it."""
    model = _parent(name) if phase != "fit" else _make(name)
    honoured = model.honoured_settings(phase)  # type: ignore[arg-type]
    default = model.partial_fit_init if phase == "partial_fit" else "mean"
    if token == f"new_ids={default}":  # asks for the default: accepted, nothing changes
        np.testing.assert_array_equal(run(), base())
        return
    if token in honoured or any(f"{token}+{e}" in honoured for e in extra):
        if (name, phase, token) in SAME_AS_DEFAULT:
            run()
            return
        assert not np.array_equal(run(), base()), f"{name} {phase}: {token} changes nothing"
        return
    with pytest.raises(ConfigError) as err:
        run()
    msg = str(err.value)
    assert "\n" not in msg and name in msg, msg
    assert token in msg or token.split("=")[0] in msg, msg


@pytest.mark.parametrize("case", list(TRAIN_CASES))
@pytest.mark.parametrize("phase", ["fit", "finetune", "partial_fit"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_train_setting_honoured_or_refused(name: str, phase: str, case: str) -> None:
    strategy = None if phase == "fit" else {}
    # A schedule needs several epochs to show; ask for them where the model takes them.
    model = _parent(name)
    base_train: dict[str, Any] = {}
    params: dict[str, Any] = {}
    if case == "schedule" and "epochs" in model.honoured_settings(phase):  # type: ignore[arg-type]
        base_train = {"epochs": 3}
    elif case == "schedule" and phase == "fit" and "epochs" in type(model.config).model_fields:
        params = {"epochs": 3}  # a fit's epochs are the model config's
    _expect(
        name,
        phase,
        _token(case),
        lambda: _run(name, phase, {**base_train, **TRAIN_CASES[case]}, strategy, **params),
        lambda: _run(name, phase, base_train, strategy, **params),
        set(),
    )


@pytest.mark.parametrize("case", list(STRATEGY_CASES))
@pytest.mark.parametrize("phase", ["finetune", "partial_fit"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_strategy_setting_honoured_or_refused(name: str, phase: str, case: str) -> None:
    spec = _strategy(name, STRATEGY_CASES[case])
    if spec is None:
        pytest.skip(f"{name}: fine-tuning changes no parameter group to freeze")
    if phase == "partial_fit" and not case.startswith("new_ids="):
        with pytest.raises(ConfigError, match="use finetune"):
            _run(name, phase, {}, spec)
        return
    # Replay reaches rows the new data do not touch: ask on a few new rows only.
    rows = 20 if case == "replay" else 0
    _expect(name, phase, case, lambda: _run(name, phase, {}, spec, rows),
            lambda: _run(name, phase, {}, {}, rows), set())  # fmt: skip


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_conditional_settings_change_the_result_together(name: str) -> None:
    """A declared ``a+b`` (``replay+l2sp``): ``a`` changes the result when ``b`` is asked too
    (on a few new rows, so that replay reaches rows the new data do not touch)."""
    for token in _parent(name).honoured_settings("finetune"):
        if "+" not in token:
            continue
        a, b = token.split("+")
        with_b = {"l2sp": {"l2sp": 0.5}, "freeze": {"freeze": [_parent(name).param_groups[0]]}}[b]
        spec_a = {"replay": {"replay": 1.0}}[a]
        assert not np.array_equal(
            _run(name, "finetune", {}, {**with_b, **spec_a}, rows=20),
            _run(name, "finetune", {}, with_b, rows=20),
        ), f"{name}: {token} changes nothing"


@pytest.mark.parametrize(
    ("train", "strategy", "words"),
    [
        ({"validation_fraction": 0.3}, None, "validation_fraction applies only with"),
        ({"validation_metric": "mae"}, None, "validation_metric applies only with"),
        ({}, {"augment_ratio": 2.0}, "augment_ratio applies only with augment="),
        ({}, {"neighbors": 3}, "neighbors applies only with new_ids=neighbors"),
        ({}, {"text_encoder": "x"}, "text_encoder applies only with new_ids=text"),
    ],
)
def test_dependent_settings_alone_are_refused(train, strategy, words) -> None:
    with pytest.raises(ConfigError, match=words):
        _run("svd", "finetune", train, strategy)


def test_defaults_set_explicitly_ask_for_nothing() -> None:
    """A field set to its default (as the CLI writes every flag) is not a request."""
    base = _run("item-knn", "finetune", {}, {})
    again = _run("item-knn", "finetune", {"schedule": "constant", "learning_rate": None}, {})
    np.testing.assert_array_equal(base, again)

"""The shared fine-tuning driver: strategy parsing, seen-matrix merge, schedules, lineage."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rectune.data.sparse import merge_csr
from rectune.errors import ConfigError
from rectune.models.baselines import Baseline
from rectune.testing import low_rank
from rectune.training import FinetuneStrategy, TrainConfig

triples = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.floats(0.5, 5)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(old=triples, new=triples, replace=st.booleans(), grow=st.integers(0, 2))
def test_merge_csr_matches_dict_reference(old, new, replace, grow) -> None:
    ref: dict[tuple[int, int], float] = {}
    for r, c, v in old:
        ref[(r, c)] = v
    base = sp.csr_matrix(
        ([v for v in ref.values()], ([k[0] for k in ref], [k[1] for k in ref])), shape=(7, 7)
    )
    for r, c, v in new:
        ref[(r, c)] = v if replace else ref.get((r, c), 0.0) + v
    n = 7 + grow
    rows = np.array([t[0] for t in new], dtype=np.int32)
    cols = np.array([t[1] for t in new], dtype=np.int32)
    vals = np.array([t[2] for t in new], dtype=np.float64)
    ptr, idx, val = merge_csr(base.indptr, base.indices, base.data, n, n, rows, cols, vals, replace)
    got = sp.csr_matrix((val, idx, ptr), shape=(n, n))
    assert got.nnz == len(ref)
    dense = np.zeros((n, n))
    for (r, c), v in ref.items():
        dense[r, c] = v
    np.testing.assert_allclose(got.toarray(), dense)


def test_strategy_parsing_forms() -> None:
    assert FinetuneStrategy.parse("l2sp").l2sp == 0.1
    s = FinetuneStrategy.parse("l2sp=0.5;freeze=user_*;replay=0.2")
    assert s.l2sp == 0.5 and s.freeze == ["user_*"] and s.replay == 0.2
    assert FinetuneStrategy.parse({"clip_norm": 1.0}).clip_norm == 1.0
    with pytest.raises(ConfigError, match="unknown strategy"):
        FinetuneStrategy.parse("bogus")
    with pytest.raises(ConfigError, match="replay"):
        FinetuneStrategy.parse("replay=-1")


def test_lambdas_by_glob_and_errors() -> None:
    s = FinetuneStrategy(l2sp={"user_*": 2.0})
    assert s.lambdas(["user_bias", "item_bias"]) == {"user_bias": 2.0, "item_bias": 0.0}
    with pytest.raises(ConfigError, match="groups: user_bias, item_bias"):
        FinetuneStrategy(freeze=["item_factors"]).frozen(["user_bias", "item_bias"])


def test_schedules() -> None:
    t = TrainConfig(schedule="cosine", warmup_epochs=2)
    factors = [t.lr_factor(e, 6) for e in range(6)]
    assert factors[0] < factors[1] < factors[2] == 1.0
    assert factors[-1] < factors[2]
    assert TrainConfig().lr_factor(3, 5) == 1.0


def test_early_stopping_restores_best_and_records_history() -> None:
    data = low_rank()
    old, new = data.subset(np.arange(len(data)) < 300), data.subset(np.arange(len(data)) >= 300)
    model = Baseline(method="sgd").fit(old)
    model.finetune(new, train=TrainConfig(epochs=30, early_stopping=2, learning_rate=0.5))
    hist = model.fit_info_["validation_history"]
    assert 1 <= len(hist) <= 30
    assert model.fit_info_["epochs_run"] == len(hist)


def test_unsupported_setting_names_it() -> None:
    data = low_rank()
    model = Baseline().fit(data)
    with pytest.raises(ConfigError, match="augment=negatives"):
        model.finetune(data, strategy={"augment": "negatives"})


def test_partial_fit_keeps_newest_rating_for_rerated_pair() -> None:
    data = low_rank()
    model = Baseline().fit(data)
    from rectune import Interactions

    u, i = data.user_ids[0], data.item_ids[0]
    model.partial_fit(Interactions.from_raw([u], [i], [1.0]))
    ui = model.user_map_.index_of([u])[0]
    ii = model.item_map_.index_of([i])[0]
    assert model.seen_[ui, ii] == 1.0
    assert model.seen_.nnz == len(data)


def test_fit_info_has_the_same_keys_after_every_step(tmp_path) -> None:
    """fit, fine-tune, update and load all write the one fit record (`fit_info`)."""
    from rectune.registry import load_model
    from rectune.training.info import FIT_INFO_KEYS

    data = low_rank()
    old, new = data.subset(np.arange(len(data)) < 700), data.subset(np.arange(len(data)) >= 700)
    model = Baseline().fit(old)
    records = [dict(model.fit_info_)]
    model.save(tmp_path / "a")
    records.append(dict(load_model(tmp_path / "a").fit_info_))
    records.append(dict(model.partial_fit(new).fit_info_))
    records.append(dict(Baseline().fit(old).finetune(new, strategy="l2sp").fit_info_))
    for rec in records:
        assert tuple(rec) == FIT_INFO_KEYS

"""The stream driver: JSON contract, update modes, retrain equivalence, per-event path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rectune.data.interactions import Interactions
from rectune.data.loaders import load
from rectune.errors import ConfigError, DataError
from rectune.evaluation.metrics import rmse
from rectune.models import create_model
from rectune.online.stream import prequential_models, replay
from rectune.testing import low_rank
from rectune.training import TrainConfig


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("stream") / "ratings.csv"
    low_rank(n_users=50, n_items=40, density=0.4).to_frame().to_csv(path, index=False)
    return str(path)


def drifting(seed: int = 0) -> Interactions:
    """Old users, then a stream in which new users with strong biases keep arriving."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 120, 40
    bu = rng.normal(0, 1.2, n_users)
    bi = rng.normal(0, 0.5, n_items)
    users, items, ts = [], [], []
    for u in range(n_users):
        rated = rng.choice(n_items, size=15, replace=False)
        # Users 0..59 rate early; users 60..119 arrive later and rate throughout the stream.
        start, span = (0, 10_000) if u < 60 else (10_000, 10_000)
        users += [u] * len(rated)
        items += rated.tolist()
        ts += (start + rng.integers(0, span, len(rated))).tolist()
    u_a, i_a = np.array(users), np.array(items)
    r = np.clip(3.5 + bu[u_a] + bi[i_a] + rng.normal(0, 0.2, len(u_a)), 1, 5)
    return Interactions.from_raw(u_a, i_a, r, np.array(ts))


def test_replay_json_contract(ratings_csv) -> None:
    data = load(ratings_csv)
    res = replay(
        data, "baseline", {"epochs": 3}, chunks=4, update="partial", metrics=["rmse", "ndcg@10"]
    )
    obj = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert {"chunks", "pooled", "initial_fit_seconds", "total_update_seconds"} <= set(obj)
    assert len(obj["chunks"]) == 4
    for k, chunk in enumerate(obj["chunks"]):
        assert {"index", "n", "metrics", "update_seconds"} <= set(chunk)
        assert chunk["index"] == k and chunk["n"] > 0 and chunk["update_seconds"] >= 0
        assert set(chunk["metrics"]) == {"rmse", "ndcg@10"}
    assert set(obj["pooled"]) == {"rmse", "ndcg@10"}
    assert sum(c["n"] for c in obj["chunks"]) == len(data) - round(0.8 * len(data))
    assert np.isclose(obj["total_update_seconds"], sum(c["update_seconds"] for c in obj["chunks"]))
    # Pooled RMSE is over all scored events, i.e. the n-weighted root mean of chunk MSEs.
    mse = sum(c["n"] * c["metrics"]["rmse"] ** 2 for c in obj["chunks"]) / obj["n_scored"]
    assert np.isclose(obj["pooled"]["rmse"], np.sqrt(mse))


def test_partial_beats_none_on_drift() -> None:
    data = drifting()
    kw = {"initial_fraction": 0.5, "chunks": 6, "metrics": ["rmse"]}
    none = replay(data, "baseline", update="none", **kw)
    part = replay(data, "baseline", update="partial", **kw)
    assert none.total_update_seconds == 0.0 and part.total_update_seconds > 0
    assert [c.metrics for c in none.chunks] != [c.metrics for c in part.chunks]
    assert part.pooled["rmse"] < 0.9 * none.pooled["rmse"]
    # The first chunk is scored before any update: identical in both runs.
    assert none.chunks[0].metrics == part.chunks[0].metrics


def test_retrain_equals_fit_from_scratch_on_prefix() -> None:
    data = drifting(1)
    res = replay(data, "baseline", initial_fraction=0.6, chunks=3, update="retrain")
    ordered = data.subset(np.argsort(data.timestamps, kind="stable"))
    n0 = round(0.6 * len(data))
    bounds = [n0 + len(p) for p in np.array_split(np.arange(len(data) - n0), 3)]
    ends = np.cumsum([n0, *[b - n0 for b in bounds]])
    for k in (1, 2):
        prefix = ordered.subset(np.arange(ends[k]))
        chunk = ordered.subset(np.arange(ends[k], ends[k + 1]))
        model = create_model("baseline").fit(prefix, train=TrainConfig(seed=0))
        expected = rmse(chunk.values, model.predict(chunk.user_ids, chunk.item_ids))
        assert res.chunks[k].metrics["rmse"] == pytest.approx(expected, abs=1e-12)


def test_finetune_with_huge_l2sp_scores_like_no_update() -> None:
    data = drifting(2)
    kw = {"initial_fraction": 0.7, "chunks": 3, "metrics": ["rmse"]}
    none = replay(data, "baseline", update="none", **kw)
    held = replay(data, "baseline", update="finetune", strategy="l2sp=1e12", **kw)
    free = replay(data, "baseline", update="finetune", strategy="plain", **kw)
    # A huge lambda keeps every parent bias: the scores match never updating.
    assert held.pooled["rmse"] <= none.pooled["rmse"] + 1e-9
    assert held.chunks[1].metrics["rmse"] == pytest.approx(none.chunks[1].metrics["rmse"], abs=0.02)
    assert free.pooled["rmse"] != pytest.approx(held.pooled["rmse"])
    assert held.strategy is not None and held.strategy["l2sp"] == 1e12


def test_ranking_metrics_use_chunk_items_as_relevant() -> None:
    data = low_rank(n_users=40, n_items=30, density=0.5)
    res = replay(data, "popularity", chunks=2, update="partial", metrics=["ndcg@5", "hr@5"])
    for c in res.chunks:
        assert 0 <= c.metrics["ndcg@5"] <= 1 and 0 <= c.metrics["hr@5"] <= 1
        assert 0 < len(c.per_user["ndcg@5"]) <= c.n  # one value per distinct user
    assert 0 < res.pooled["hr@5"] <= 1


def test_bad_settings_are_clear_errors() -> None:
    data = low_rank()
    with pytest.raises(ConfigError, match="update must be one of"):
        replay(data, "baseline", update="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="initial_fraction"):
        replay(data, "baseline", initial_fraction=1.5)
    with pytest.raises(ConfigError, match="strategy applies to update='finetune'"):
        replay(data, "baseline", update="partial", strategy="l2sp")
    with pytest.raises(ConfigError, match="unknown model"):
        replay(data, "no-such-model")
    with pytest.raises(ConfigError, match="rating metrics only"):
        replay(data, "baseline", update="partial", per_event=True, metrics=["ndcg@10"])
    with pytest.raises(DataError, match="chunks"):
        replay(data.subset(np.arange(5)), "baseline", chunks=10)


def test_per_event_without_prequential_names_the_models_that_have_it() -> None:
    with pytest.raises(ConfigError, match="no compiled per-event") as info:
        replay(low_rank(), "baseline", update="partial", per_event=True)
    for name in prequential_models():
        assert name in str(info.value)


@pytest.mark.parametrize("name", prequential_models() or ["(none yet)"])
def test_per_event_equals_slow_loop(name: str) -> None:
    if name == "(none yet)":
        pytest.skip("no registered model has a prequential path yet")
    params = {"epochs": 5, "embedding_size": 4} if name in ("svd", "svdpp") else {}
    data = low_rank(n_users=40, n_items=30, density=0.4)
    res = replay(
        data, name, params, initial_fraction=0.7, chunks=2, update="partial", per_event=True
    )
    ordered = data.subset(np.argsort(data.timestamps, kind="stable"))
    n0 = round(0.7 * len(data))
    model = create_model(name, **params).fit(
        ordered.subset(np.arange(n0)), train=TrainConfig(seed=0)
    )
    rest = ordered.subset(np.arange(n0, len(data)))
    slow = []
    for u, i, v in zip(rest.user_ids, rest.item_ids, rest.values, strict=True):
        slow.append(model.predict_one(u, i))
        model.learn_one(u, i, v)
    fast = np.concatenate([c.errors for c in res.chunks]) + rest.values
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-6)

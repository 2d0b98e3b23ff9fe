"""Paired bootstrap comparison: CI coverage, identical models, retention, CLI JSON layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.errors import ConfigError
from rectune.evaluation.compare import compare, paired_bootstrap
from rectune.evaluation.splits import random_split
from rectune.models.baselines import Baseline, Popularity
from rectune.models.knn import ItemKNN
from rectune.testing import low_rank


@pytest.fixture(scope="module")
def data():
    return low_rank(n_users=50, n_items=40, density=0.4)


def test_bootstrap_ci_covers_true_delta() -> None:
    """On paired data with a known mean difference the 95% CI covers it ~95% of the time."""
    true_delta, covered, runs = 0.1, 0, 60
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        shared = rng.normal(0.5, 0.3, 300)  # per-user difficulty, common to both models
        a = shared + rng.normal(0, 0.1, 300)
        b = shared + true_delta + rng.normal(0, 0.1, 300)
        _, low, high, _ = paired_bootstrap(a, b, n_boot=400, rng=seed)
        covered += low <= true_delta <= high
    assert covered / runs >= 0.85
    delta, low, high, p = paired_bootstrap(a, b, n_boot=400)
    assert low < delta < high and p < 0.01
    # pairing matters: the unpaired spread of `shared` would make the interval far wider
    assert high - low < 0.05


def test_rmse_bootstrap_is_on_squared_errors() -> None:
    rng = np.random.default_rng(0)
    sq_a, sq_b = rng.random(200) ** 2, (rng.random(200) * 0.5) ** 2
    delta, low, high, _ = paired_bootstrap(sq_a, sq_b, n_boot=300, root=True)
    assert delta == pytest.approx(np.sqrt(sq_b.mean()) - np.sqrt(sq_a.mean()))
    assert low <= delta <= high


def test_identical_models_give_zero_delta(data) -> None:
    model = Baseline().fit(data)
    res = compare(model, model, data, metrics=["rmse", "mae", "ndcg@5"], n_boot=200)
    for name, m in res.metrics.items():
        assert (m["delta"], m["ci_low"], m["ci_high"]) == (0.0, 0.0, 0.0), name
        assert m["p_value"] == 1.0
        assert m["a"] == m["b"]
    assert res.retention is None


def test_split_and_retention(data) -> None:
    train, _ = random_split(data, 0.2, seed=3)
    a = Baseline().fit(train)
    b = ItemKNN(similarity="pearson", centering="baseline").fit(train)
    res = compare(
        a, b, data, split={"method": "random", "test_size": 0.2, "seed": 3},
        metrics=["rmse", "ndcg@10"], n_boot=300, old_data=train,
    )  # fmt: skip
    m = res.metrics["rmse"]
    assert m["ci_low"] <= m["delta"] <= m["ci_high"]
    assert m["delta"] == pytest.approx(m["b"] - m["a"])
    assert m["n"] == round(0.2 * len(data))
    ret = res.retention
    assert ret is not None and set(ret["metrics"]) == {"rmse", "ndcg@10"}
    assert ret["data"]["fingerprint"] == train.fingerprint()
    # on its own training data, kNN (which memorises neighbours) fits better than biases
    assert ret["metrics"]["rmse"]["b"] < ret["metrics"]["rmse"]["a"]
    json.loads(res.to_json())


def test_bad_metric_and_n_boot(data) -> None:
    model = Popularity().fit(data)
    with pytest.raises(ConfigError, match="coverage"):
        compare(model, model, data, metrics=["coverage@10"])
    with pytest.raises(ConfigError, match="n_boot"):
        compare(model, model, data, n_boot=0)


def test_cli_json_layout(data, tmp_path) -> None:
    csv = tmp_path / "ratings.csv"
    data.to_frame().to_csv(csv, index=False)
    train, _ = random_split(data, 0.2, seed=0)
    Baseline().fit(train).save(str(tmp_path / "a"))
    ItemKNN().fit(train).save(str(tmp_path / "b"))
    out = tmp_path / "cmp.json"
    res = CliRunner().invoke(
        app,
        ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--data", str(csv), "--split",
         "random", "--test-size", "0.2", "--metrics", "rmse,ndcg@10", "--n-boot", "100",
         "--old-data", str(csv), "--json", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "95% CI" in res.output
    obj = json.loads(out.read_text())
    assert set(obj) >= {"a", "b", "data", "metrics", "retention", "n_boot", "seed"}
    assert obj["a"]["path"] == str(tmp_path / "a") and obj["data"]["path"] == str(csv)
    assert set(obj["data"]) >= {"path", "fingerprint"}
    for m in obj["metrics"].values():
        assert set(m) >= {"a", "b", "delta", "ci_low", "ci_high", "p_value"}
    assert set(obj["retention"]["metrics"]) == {"rmse", "ndcg@10"}
    assert obj["n_boot"] == 100 and obj["seed"] == 0
    bad = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), "nowhere", "--data", str(csv)])
    assert bad.exit_code == 2

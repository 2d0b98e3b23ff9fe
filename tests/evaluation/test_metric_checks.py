"""Settings the runners cannot honour are errors: cut-offs beyond the catalogue, rating metrics
for models that only rank, split options the split does not use (issue 7, section 2)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.evaluation import evaluate
from rectune.evaluation.compare import compare
from rectune.evaluation.metric_names import check_cutoffs, parse_metric, predicts_ratings
from rectune.models import create_model
from rectune.testing import low_rank

RANKING_ONLY = ["als", "bpr", "ease", "two-tower", "sasrec", "text"]


@pytest.fixture(scope="module")
def data():
    return low_rank(n_users=40, n_items=30, density=0.4)


@pytest.mark.parametrize("bad", ["ndcg@-3", "ndcg@1.5", "ndcg@", "recall@0", "hr@ten"])
def test_cutoff_must_be_a_whole_number_of_at_least_1(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"cut-off of metric .* at least 1"):
        parse_metric(bad)


def test_huge_cutoff_is_refused_before_any_work(data) -> None:
    # Before: MemoryError (a 10^12-wide hit matrix). The cut-off is refused, not clipped.
    with pytest.raises(ConfigError, match=r"ndcg@1000000000000: cut-off .* exceeds the 30 items"):
        evaluate("baseline", data, split="random", metrics=["rmse", "ndcg@1000000000000"])
    with pytest.raises(ConfigError, match="exceeds the 30 items"):
        evaluate("baseline", data, split="random", metrics=["recall@31"])
    res = evaluate("baseline", data, split="random", metrics=["recall@30", "precision@30"])
    assert res.mean["recall@30"] == pytest.approx(1.0)  # the whole catalogue: every item found
    check_cutoffs([parse_metric("ndcg@30")], 30)


def test_unknown_metric_names_the_valid_ones(data) -> None:
    with pytest.raises(ConfigError, match=r"unknown metric 'auc@10'; valid metrics: rmse"):
        evaluate("baseline", data, metrics=["auc@10"])


@pytest.mark.parametrize("name", RANKING_ONLY)
def test_rating_metrics_are_refused_for_ranking_only_models(name: str, data) -> None:
    model = create_model(name)
    assert predicts_ratings(model) is False
    for metric in ("rmse", "mae"):
        message = rf"model {name} .* does not predict ratings.*{metric}"
        with pytest.raises(ConfigError, match=message):
            evaluate(name, data, split="random", metrics=[metric, "ndcg@10"])


def test_models_that_predict_ratings_keep_rmse(data) -> None:
    for name in ("baseline", "svd", "item-knn", "popularity"):
        assert predicts_ratings(create_model(name)) is True
    res = evaluate("popularity", data, split="random", metrics=["rmse"])  # damped item means
    assert 0 < res.mean["rmse"] < 2


def test_ncf_on_implicit_data_is_refused_after_its_fit(data) -> None:
    pytest.importorskip("torch")
    implicit = Interactions.from_raw(data.user_ids, data.item_ids, kind="weight")
    model = create_model("ncf", embedding_size=4, layers=[4], epochs=1)
    assert predicts_ratings(model) is None  # follows the data kind: known once fitted
    with pytest.raises(ConfigError, match=r"model ncf .* does not predict ratings"):
        evaluate(model, implicit, split="random", metrics=["rmse"])


def test_compare_refuses_rating_metrics_for_ranking_models_and_defaults_to_ranking(data) -> None:
    als = create_model("als", embedding_size=4, epochs=2).fit(data)
    svd = create_model("svd", epochs=2, embedding_size=4).fit(data)
    with pytest.raises(ConfigError, match=r"model als .* rmse"):
        compare(svd, als, data, metrics=["rmse"], n_boot=10)
    with pytest.raises(ConfigError, match="exceeds the 30 items"):
        compare(svd, svd, data, metrics=["ndcg@100"], n_boot=10)
    res = compare(svd, als, data, metrics=None, n_boot=10)
    assert list(res.metrics) == ["ndcg@10", "recall@10"]
    assert list(compare(svd, svd, data, metrics=None, n_boot=10).metrics) == ["rmse", "ndcg@10"]


def test_split_options_the_split_does_not_use_are_errors(data) -> None:
    with pytest.raises(ConfigError, match="folds must be an integer >= 2, got 0"):
        evaluate("baseline", data, folds=0)
    with pytest.raises(ConfigError, match="split 'random' does not use folds"):
        evaluate("baseline", data, split="random", folds=3)
    with pytest.raises(ConfigError, match="split 'kfold' does not use test_size"):
        evaluate("baseline", data, test_size=0.3)
    with pytest.raises(ConfigError, match="split 'random' does not use n_support"):
        evaluate("baseline", data, split="random", n_support=2)
    # Defaults are recorded as before.
    res = evaluate("baseline", data, metrics=["rmse"])
    assert res.split == {"method": "kfold", "folds": 5, "seed": 0} and len(res.folds) == 5
    assert evaluate("baseline", data, split="random").split["test_size"] == 0.2


def test_public_names_stay_importable_after_the_split() -> None:
    metrics = importlib.import_module("rectune.evaluation.metrics")
    runner = importlib.import_module("rectune.evaluation.runner")
    for name in metrics.__all__:
        assert hasattr(metrics, name), name
    package = importlib.import_module("rectune.evaluation")
    for name in ("MetricSpec", "parse_metric", "parse_metrics", "valid_metric_names"):
        assert getattr(metrics, name) is getattr(package, name)
    for name in ("EvaluationResult", "FoldResult", "evaluate"):
        assert hasattr(runner, name), name
    for name in ("RATING_METRICS", "RANKING_METRICS", "CATALOGUE_METRICS", "METRIC_ALIASES"):
        assert isinstance(getattr(metrics, name), tuple | dict)
    assert np.isclose(metrics.rmse([1, 2], [1, 4]), np.sqrt(2))

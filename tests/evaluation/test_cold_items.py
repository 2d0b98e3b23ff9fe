"""Cold-item evaluation: cold-candidate and full-catalogue metrics, tag stripping, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rectune.data.synthetic import generate
from rectune.evaluation.runner import evaluate
from rectune.models.baselines import Popularity

METRICS = ["rmse", "ndcg@10", "coverage@10"]


@pytest.fixture(scope="module")
def data():
    out = generate(n_users=200, n_items=150, n_interactions=6000, seed=5)
    text = out.item_text.copy()
    out.item_text = text + " | tags: " + text.index.astype(str).map(lambda i: f"seen-by-{i}")
    return out


def test_cold_items_report_cold_and_full_ranking(data) -> None:
    res = evaluate("content-knn", data, split="cold-items", test_size=0.2, metrics=METRICS)
    mean = res.mean
    assert list(res.folds[0].metrics) == [*METRICS, "ndcg@10_full", "coverage@10_full"]
    assert mean["ndcg@10"] > 0.1 and mean["coverage@10"] > 0.5
    assert 0 < mean["ndcg@10_full"] < mean["ndcg@10"]
    assert set(res.folds[0].per_user) == {"ndcg@10", "ndcg@10_full"}
    json.loads(res.to_json())
    # A model that cannot score unseen items ranks none of them: 0, and its RMSE is the fallback.
    svd = evaluate("svd", data, split="cold-items", test_size=0.2, metrics=METRICS).mean
    assert svd["ndcg@10"] == 0.0 and svd["ndcg@10_full"] == 0.0 and svd["coverage@10"] == 0.0
    assert np.isfinite(svd["rmse"])
    plain = evaluate("svd", data, split="random", metrics=["rmse", "ndcg@10"]).mean
    assert "ndcg@10_full" not in plain


def test_cold_item_text_loses_its_tags(data) -> None:
    seen: dict[str, pd.Series] = {}

    class Spy(Popularity):
        def _fit(self, local, train):
            seen["text"] = local.item_text
            super()._fit(local, train)

    res = evaluate(Spy, data, split="cold-items", test_size=0.2, metrics=["ndcg@10"])
    test = data.subset(res.folds[0].test_rows)
    cold = np.unique(test.item_ids)
    text = seen["text"]
    assert not text.loc[cold].str.contains("tags:").any()
    warm = text.index.difference(pd.Index(cold))
    assert text.loc[warm].str.contains("tags:").all()
    assert data.item_text.str.contains("tags:").all()  # the dataset itself is untouched


def test_cli_cold_items(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rectune.cli.main import app

    data = generate(n_users=80, n_items=60, n_interactions=1500, seed=2)
    folder = tmp_path / "ml-latest-tiny"
    folder.mkdir()
    frame = data.to_frame().rename(columns={"user_id": "userId", "item_id": "movieId"})
    frame.to_csv(folder / "ratings.csv", index=False)
    titles = data.item_text.str.split(" \\| ").str[0]
    genres = data.item_text.str.split(" \\| ").str[1].str.replace(", ", "|")
    movies = pd.DataFrame({"movieId": titles.index, "title": titles, "genres": genres})
    movies.to_csv(folder / "movies.csv", index=False)
    out = tmp_path / "res.json"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(folder),
            "--model",
            "content-knn",
            "--split",
            "cold-items",
            "--test-size",
            "0.2",
            "--metrics",
            "rmse,ndcg@10",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    mean = json.loads(out.read_text())["mean"]
    assert {"rmse", "ndcg@10", "ndcg@10_full"} <= set(mean)
    assert mean["ndcg@10"] > 0

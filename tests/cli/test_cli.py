"""The CLI through typer's runner: the evaluate JSON contract, train/recommend, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.testing import low_rank

runner = CliRunner()


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    low_rank(n_users=50, n_items=40, density=0.4).to_frame().to_csv(path, index=False)
    return str(path)


def test_evaluate_json_contract(ratings_csv, tmp_path) -> None:
    out = tmp_path / "res.json"
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            ratings_csv,
            "--format",
            "csv",
            "--model",
            "baseline",
            "--set",
            "epochs=5",
            "--split",
            "kfold",
            "--folds",
            "3",
            "--metrics",
            "rmse,mae,ndcg@10",
            "--seed",
            "1",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(out.read_text())
    assert {"model", "config", "data", "split", "folds", "mean"} <= set(obj)
    assert obj["model"] == "baseline" and obj["config"]["epochs"] == 5
    assert set(obj["data"]) >= {"path", "fingerprint"} and obj["data"]["path"] == ratings_csv
    assert len(obj["folds"]) == 3
    for fold in obj["folds"]:
        assert set(fold["metrics"]) == {"rmse", "mae", "ndcg@10"}
        assert fold["fit_seconds"] >= 0 and fold["predict_seconds"] >= 0
    assert {"rmse", "mae", "ndcg@10", "fit_seconds"} <= set(obj["mean"])
    assert np.isclose(obj["mean"]["rmse"], np.mean([f["metrics"]["rmse"] for f in obj["folds"]]))


def test_evaluate_config_file_and_override(ratings_csv, tmp_path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text('model = "baseline"\n[params]\nepochs = 3\nmethod = "sgd"\n')
    out = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            ratings_csv,
            "--config",
            str(cfg),
            "--set",
            "epochs=4",
            "--split",
            "random",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(out.read_text())
    assert obj["config"]["method"] == "sgd" and obj["config"]["epochs"] == 4


def test_bad_hyperparameter_exits_2_with_message(ratings_csv) -> None:
    res = runner.invoke(
        app, ["evaluate", "--data", ratings_csv, "--model", "baseline", "--set", "bogus=1"]
    )
    assert res.exit_code == 2
    assert "bogus" in res.output


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    res = runner.invoke(app, ["data", "stats", "--data", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2
    assert "nope.csv" in res.output


def test_train_then_recommend(ratings_csv, tmp_path) -> None:
    art = tmp_path / "art"
    res = runner.invoke(
        app, ["train", "--data", ratings_csv, "--model", "baseline", "--out", str(art)]
    )
    assert res.exit_code == 0, res.output
    assert (art / "manifest.json").exists()
    res = runner.invoke(
        app,
        ["recommend", "--from", str(art), "--user", "0", "--user", "nobody", "-n", "3", "--json"],
    )
    assert res.exit_code == 0, res.output
    recs = json.loads(res.output)
    assert len(recs["0"]) == 3 and len(recs["nobody"]) == 3


def test_data_stats_json(ratings_csv) -> None:
    res = runner.invoke(app, ["data", "stats", "--data", ratings_csv, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["interactions"] > 0 and info["users"] == 50

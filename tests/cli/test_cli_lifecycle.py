"""The model's life through the CLI: train -> finetune -> update, and replay's JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.testing import low_rank

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("life")
    frame = low_rank(n_users=50, n_items=40, density=0.4).to_frame()
    frame.to_csv(root / "ratings.csv", index=False)
    new = frame.sample(40, random_state=0).copy()
    new.loc[new.index[:10], "user_id"] += 10_000  # ten rows of new users
    new.to_csv(root / "new.csv", index=False)
    (root / "bad.csv").write_text("user_id,item_id,rating\n1,1001,4\n2,1002,oops\n")
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(root / "ratings.csv"),
            "--model",
            "baseline",
            "--set",
            "method=sgd",  # SGD steps honour a learning rate and a schedule (ALS ones do not)
            "--out",
            str(root / "v1"),
        ],
    )
    assert res.exit_code == 0, res.output
    return {"root": root, "v1": root / "v1", "new": root / "new.csv", "bad": root / "bad.csv"}


def lineage(path: Path) -> dict:
    return json.loads((path / "lineage.json").read_text())


def test_finetune_writes_child_with_parent_and_strategy(files, tmp_path) -> None:
    out, summary = tmp_path / "v2", tmp_path / "ft.json"
    res = runner.invoke(
        app,
        [
            "finetune",
            "--from",
            str(files["v1"]),
            "--data",
            str(files["new"]),
            "--format",
            "csv",
            "--out",
            str(out),
            "--strategy",
            "l2sp=0.5",
            "--set",
            "strategy.replay=0.2",
            "--learning-rate",
            "0.01",
            "--epochs",
            "4",
            "--schedule",
            "cosine",
            "--warmup-epochs",
            "1",
            "--seed",
            "3",
            "--json",
            str(summary),
        ],
    )
    assert res.exit_code == 0, res.output
    lin = lineage(out)
    assert lin["parent"]["id"] == lineage(files["v1"])["id"]
    assert lin["strategy"]["l2sp"] == 0.5 and lin["strategy"]["replay"] == 0.2
    obj = json.loads(summary.read_text())
    assert obj["train"]["epochs"] == 4 and obj["train"]["schedule"] == "cosine"
    assert obj["new_users"] > 0 and obj["parent"]["id"] == lin["parent"]["id"]


def test_finetune_early_stopping_and_bad_strategy(files, tmp_path) -> None:
    ok = runner.invoke(
        app,
        [
            "finetune",
            "--from",
            str(files["v1"]),
            "--data",
            str(files["new"]),
            "--out",
            str(tmp_path / "es"),
            "--early-stopping",
            "2",
            "--epochs",
            "5",
        ],
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app,
        [
            "finetune",
            "--from",
            str(files["v1"]),
            "--data",
            str(files["new"]),
            "--out",
            str(tmp_path / "x"),
            "--strategy",
            "freeze=nothing_*",
        ],
    )
    assert bad.exit_code == 2 and "no parameter group matches" in bad.output
    assert not (tmp_path / "x").exists()
    same = runner.invoke(
        app,
        [
            "finetune",
            "--from",
            str(files["v1"]),
            "--data",
            str(files["new"]),
            "--out",
            str(files["v1"]),
        ],
    )
    assert same.exit_code == 2 and "parent" in same.output


def test_update_writes_new_version(files, tmp_path) -> None:
    out, summary = tmp_path / "v3", tmp_path / "up.json"
    res = runner.invoke(
        app,
        [
            "update",
            "--from",
            str(files["v1"]),
            "--events",
            str(files["new"]),
            "--batch-size",
            "16",
            "--out",
            str(out),
            "--json",
            str(summary),
        ],
    )
    assert res.exit_code == 0, res.output
    lin = lineage(out)
    assert lin["parent"]["id"] == lineage(files["v1"])["id"]
    assert lin["strategy"]["method"] == "partial_fit" and lin["strategy"]["batch_size"] == 16
    obj = json.loads(summary.read_text())
    assert obj["batches"] == 3 and obj["events"] == 40 and obj["new_users"] > 0


def test_update_with_bad_events_exits_2_and_writes_nothing(files, tmp_path) -> None:
    out = tmp_path / "never"
    before = lineage(files["v1"])
    res = runner.invoke(
        app,
        ["update", "--from", str(files["v1"]), "--events", str(files["bad"]), "--out", str(out)],
    )
    assert res.exit_code == 2
    assert "line 3" in res.output and "Traceback" not in res.output
    assert not out.exists() and not list(tmp_path.glob(".never*"))
    assert lineage(files["v1"]) == before


def test_replay_json_contract(files, tmp_path) -> None:
    out = tmp_path / "replay.json"
    res = runner.invoke(
        app,
        [
            "replay",
            "--data",
            str(files["root"] / "ratings.csv"),
            "--model",
            "baseline",
            "--set",
            "epochs=5",
            "--initial-fraction",
            "0.7",
            "--chunks",
            "3",
            "--update",
            "finetune",
            "--strategy",
            "l2sp",
            "--metrics",
            "rmse,ndcg@10",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(out.read_text())
    assert {"chunks", "pooled", "initial_fit_seconds", "total_update_seconds"} <= set(obj)
    assert [c["index"] for c in obj["chunks"]] == [0, 1, 2]
    for c in obj["chunks"]:
        assert {"index", "n", "metrics", "update_seconds"} <= set(c)
        assert set(c["metrics"]) == {"rmse", "ndcg@10"}
    assert set(obj["pooled"]) == {"rmse", "ndcg@10"} and obj["config"]["epochs"] == 5
    assert obj["strategy"]["l2sp"] == 0.1
    assert np.isclose(obj["total_update_seconds"], sum(c["update_seconds"] for c in obj["chunks"]))


def test_replay_errors_exit_2(files) -> None:
    data = str(files["root"] / "ratings.csv")
    res = runner.invoke(app, ["replay", "--data", data, "--model", "baseline", "--update", "x"])
    assert res.exit_code == 2 and "update must be one of" in res.output
    res = runner.invoke(
        app, ["replay", "--data", data, "--model", "baseline", "--update", "partial", "--per-event"]
    )
    assert res.exit_code == 2 and "per-event" in res.output

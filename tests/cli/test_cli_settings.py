"""Settings the CLI cannot honour exit 2 with one line naming them (issue 7, section 2)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.testing import low_rank

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("settings")
    low_rank(n_users=50, n_items=40, density=0.4).to_frame().to_csv(root / "r.csv", index=False)
    for name, extra in (("baseline", []), ("als", ["--set", "epochs=2"])):
        res = runner.invoke(
            app,
            [
                "train",
                "--data",
                str(root / "r.csv"),
                "--model",
                name,
                "--out",
                str(root / name),
                *extra,
            ],
        )
        assert res.exit_code == 0, res.output
    return {"data": root / "r.csv", "baseline": root / "baseline", "als": root / "als"}


def run(*args: object) -> tuple[int, str]:
    res = runner.invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


def test_evaluate_huge_cutoff_and_unknown_metric(files) -> None:
    # Before: a MemoryError traceback.
    code, out = run(
        "evaluate",
        "--data",
        files["data"],
        "--model",
        "baseline",
        "--metrics",
        "ndcg@1000000000000",
    )
    assert code == 2 and "ndcg@1000000000000: cut-off" in error_line(out)
    assert "Traceback" not in out
    code, out = run("evaluate", "--data", files["data"], "--model", "baseline", "--metrics", "auc")
    assert code == 2 and "unknown metric 'auc'" in error_line(out)
    code, out = run("evaluate", "--data", files["data"], "--model", "svd", "--metrics", "hr@-1")
    assert code == 2 and "at least 1" in error_line(out)


def test_evaluate_folds(files, tmp_path) -> None:
    # Before: --folds 0 silently ran 5 folds.
    code, out = run("evaluate", "--data", files["data"], "--model", "baseline", "--folds", 0)
    assert code == 2 and "folds must be an integer >= 2, got 0" in error_line(out)
    code, out = run(
        "evaluate",
        "--data",
        files["data"],
        "--model",
        "baseline",
        "--split",
        "random",
        "--folds",
        3,
    )
    assert code == 2 and "split 'random' does not use folds" in error_line(out)
    code, out = run(
        "evaluate",
        "--data",
        files["data"],
        "--model",
        "baseline",
        "--split",
        "leave-last",
        "--json",
        tmp_path / "ll.json",
    )
    assert code == 0, out  # config defaults (test_size) are not forced on a split without them
    code, out = run(
        "evaluate",
        "--data",
        files["data"],
        "--model",
        "baseline",
        "--folds",
        2,
        "--json",
        tmp_path / "k.json",
    )
    assert code == 0, out
    assert json.loads((tmp_path / "k.json").read_text())["split"]["folds"] == 2


def test_ranking_only_models_and_rating_metrics(files, tmp_path) -> None:
    # Before: als reported an "rmse" of its scores against ratings.
    code, out = run("evaluate", "--data", files["data"], "--model", "als", "--metrics", "rmse")
    assert code == 2 and "model als ranks items and does not predict ratings" in error_line(out)
    code, out = run(
        "evaluate",
        "--data",
        files["data"],
        "--model",
        "als",
        "--set",
        "epochs=2",
        "--split",
        "random",
        "--json",
        tmp_path / "als.json",
    )
    assert code == 0, out  # the default metrics of a ranking model are ranking metrics
    mean = json.loads((tmp_path / "als.json").read_text())["mean"]
    assert "rmse" not in mean and "ndcg@10" in mean
    code, out = run(
        "compare",
        files["baseline"],
        files["als"],
        "--data",
        files["data"],
        "--metrics",
        "rmse,ndcg@10",
    )
    assert code == 2 and "model als" in error_line(out)
    code, out = run(
        "compare",
        files["baseline"],
        files["als"],
        "--data",
        files["data"],
        "--n-boot",
        20,
        "--json",
        tmp_path / "c.json",
    )
    assert code == 0, out
    metrics = json.loads((tmp_path / "c.json").read_text())["metrics"]
    assert list(metrics) == ["ndcg@10", "recall@10"]
    code, out = run(
        "replay",
        "--data",
        files["data"],
        "--model",
        "als",
        "--update",
        "partial",
        "--metrics",
        "rmse",
    )
    assert code == 2 and "model als" in error_line(out)


def test_recommend_n_must_be_positive(files) -> None:
    # Before: -n -3 printed nothing and exited 0.
    for n in (-3, 0):
        code, out = run("recommend", "--from", files["baseline"], "-u", 0, "-n", n)
        assert code == 2 and f"--n must be at least 1, got {n}" in error_line(out)


def test_recommend_labels_only_unknown_users_unknown(files) -> None:
    # Before: every integer user id was titled "(unknown: popular)" (a string key was looked up).
    code, out = run("recommend", "--from", files["baseline"], "-u", 0, "-u", "nobody", "-n", 2)
    assert code == 0, out
    titles = [line.strip() for line in out.splitlines() if line.strip().startswith("user ")]
    assert titles[0] == "user 0" and titles[1].startswith("user nobody (unknown")


def test_replay_per_event_settings(files, tmp_path) -> None:
    code, out = run(
        "replay", "--data", files["data"], "--model", "svd", "--update", "none", "--per-event"
    )
    assert code == 2 and "update='none' nothing is learned" in error_line(out)
    # Predict-then-learn from the very first event (River's progressive validation).
    code, out = run(
        "replay",
        "--data",
        files["data"],
        "--model",
        "svd",
        "--update",
        "partial",
        "--per-event",
        "--initial-fraction",
        0,
        "--chunks",
        4,
        "--json",
        tmp_path / "r.json",
    )
    assert code == 0, out
    obj = json.loads((tmp_path / "r.json").read_text())
    assert obj["n_initial"] == 0
    assert obj["n_scored"] == len(files["data"].read_text().splitlines()) - 1  # every event
    assert np.isfinite(obj["pooled"]["rmse"])
    code, out = run(
        "replay",
        "--data",
        files["data"],
        "--model",
        "svd",
        "--update",
        "partial",
        "--initial-fraction",
        0,
    )
    assert code == 2 and "initial_fraction=0" in error_line(out)
    code, out = run(
        "replay",
        "--data",
        files["data"],
        "--model",
        "svd",
        "--update",
        "partial",
        "--initial-fraction",
        1,
    )
    assert code == 2 and "initial_fraction must be in [0, 1)" in error_line(out)


def test_finetune_negative_l2sp_exits_2(files, tmp_path) -> None:
    for spec in ("l2sp=-1", "clip_norm=0"):
        code, out = run(
            "finetune",
            "--from",
            files["baseline"],
            "--data",
            files["data"],
            "--out",
            tmp_path / "child",
            "--strategy",
            spec,
        )
        assert code == 2 and spec.split("=")[0] in error_line(out)
        assert not (tmp_path / "child").exists()


def test_crafted_artifact_exits_2_naming_file_and_entry(files, tmp_path) -> None:
    path = tmp_path / "crafted"
    shutil.copytree(files["baseline"], path)
    with np.load(path / "params.npz") as npz:
        state = {k: npz[k] for k in npz.files}
    state["user_bias"] = np.array([object()] * 3, dtype=object)
    with (path / "params.npz").open("wb") as fh:
        np.savez(fh, **state)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["params.npz"] = hashlib.sha256((path / "params.npz").read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    code, out = run("recommend", "--from", path, "-u", 0)
    line = error_line(out)
    assert code == 2 and "params.npz: entry 'user_bias' cannot be read" in line
    assert "Traceback" not in out

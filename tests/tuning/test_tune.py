"""`rectune tune`: spaces, resumable studies, pruning, the best TOML and the CLI contract."""

from __future__ import annotations

import json

import optuna
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.errors import ConfigError
from rectune.testing import low_rank
from rectune.tuning import SearchSpace, tune

runner = CliRunner()
optuna.logging.set_verbosity(optuna.logging.WARNING)

SVD_SPACE = """
[params.reg]
type = "float"
low = 0.001
high = 0.5
log = true

[params.embedding_size]
type = "int"
low = 2
high = 12

[fixed]
epochs = 8
"""


@pytest.fixture(scope="module")
def data():
    return low_rank(n_users=60, n_items=50, density=0.3)


@pytest.fixture(scope="module")
def files(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("tune")
    (root / "space.toml").write_text(SVD_SPACE)
    data.to_frame().to_csv(root / "ratings.csv", index=False)
    return root


def svd_space() -> SearchSpace:
    import tomllib

    return SearchSpace.from_dict(tomllib.loads(SVD_SPACE), source="space.toml")


def test_resumed_study_runs_only_the_missing_trials(data, tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = tune("svd", data, svd_space(), trials=3, metric="rmse", storage=storage)
    again = tune("svd", data, svd_space(), trials=5, metric="rmse", storage=storage)
    assert [t["number"] for t in again.trials] == [0, 1, 2, 3, 4]
    assert again.seconds["ran_trials"] == 2
    for before, after in zip(first.trials, again.trials[:3], strict=True):
        assert (before["params"], before["value"]) == (after["params"], after["value"])
    # A third call with the same total runs nothing; other settings are refused.
    assert (
        tune("svd", data, svd_space(), trials=5, metric="rmse", storage=storage).seconds[
            "ran_trials"
        ]
        == 0
    )
    with pytest.raises(ConfigError, match="other settings"):
        tune(
            "svd",
            data,
            svd_space(),
            trials=5,
            metric="rmse",
            storage=storage,
            test_size=0.3,
            study_name="svd-rmse",
        )


def test_bad_trial_is_pruned_from_its_epoch_values(data, tmp_path) -> None:
    """Four sound trials, then one whose step size learns nothing: pruned after epoch 2."""
    storage = f"sqlite:///{tmp_path / 'prune.db'}"
    space = SearchSpace.from_dict(
        {
            "params": {"learning_rate": {"type": "float", "low": 1e-6, "high": 0.05, "log": True}},
            "fixed": {"epochs": 8, "embedding_size": 4},
        }
    )
    study = optuna.create_study(storage=storage, study_name="p", direction="minimize")
    for lr in (0.02, 0.03, 0.025, 0.05, 1e-6):
        study.enqueue_trial({"learning_rate": lr})
    res = tune(
        "svd",
        data,
        space,
        trials=5,
        metric="rmse",
        storage=storage,
        study_name="p",
        pruner_startup=4,
        pruner_warmup=1,
    )
    states = [t["state"] for t in res.trials]
    assert states == ["complete"] * 4 + ["pruned"]
    bad = res.trials[4]
    assert 2 <= len(bad["intermediate"]) < 8
    assert len(res.trials[0]["intermediate"]) == 8  # validation rmse after every epoch
    assert res.trials[0]["epoch_history"][0]["epoch"] == 1
    assert res.best_params["learning_rate"] in (0.02, 0.03, 0.025, 0.05)


def test_svdpp_bad_trial_is_pruned_and_bpr_reports_every_epoch(data, tmp_path) -> None:
    """SVD++ and BPR report epochs too: a SVD++ trial that learns nothing is pruned; every BPR
    trial gets a validation ndcg@5 after each epoch and its BPR loss history."""
    storage = f"sqlite:///{tmp_path / 'pp.db'}"
    space = SearchSpace.from_dict(
        {
            "params": {"learning_rate": {"type": "float", "low": 1e-6, "high": 0.05, "log": True}},
            "fixed": {"epochs": 6, "embedding_size": 4},
        }
    )
    study = optuna.create_study(storage=storage, study_name="pp", direction="minimize")
    for lr in (0.02, 0.03, 0.05, 1e-6):
        study.enqueue_trial({"learning_rate": lr})
    res = tune("svdpp", data, space, trials=4, metric="rmse", storage=storage, study_name="pp",
               pruner_startup=3, pruner_warmup=1)  # fmt: skip
    assert [t["state"] for t in res.trials] == ["complete"] * 3 + ["pruned"]
    assert len(res.trials[0]["intermediate"]) == 6 and 2 <= len(res.trials[3]["intermediate"]) < 6
    assert len(res.trials[0]["epoch_history"]) == 6
    bpr = SearchSpace.from_dict(
        {"params": {"reg": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
         "fixed": {"epochs": 4, "embedding_size": 4, "learning_rate": 0.05}}
    )  # fmt: skip
    res = tune("bpr", data, bpr, trials=2, metric="ndcg@5")
    for t in res.trials:
        assert len(t["intermediate"]) == 4
        assert all(0.0 <= v <= 1.0 for v in t["intermediate"].values())
        assert [e["epoch"] for e in t["epoch_history"]] == [1, 2, 3, 4]


def test_ranking_metric_prunes_torch_and_runs_models_without_epochs(data) -> None:
    ncf = SearchSpace.from_dict(
        {"params": {"embedding_size": {"type": "int", "low": 4, "high": 8}}, "fixed": {"epochs": 2}}
    )
    res = tune("ncf", data, ncf, trials=2, metric="ndcg@5")
    assert res.direction == "maximize"
    for t in res.trials:  # validation ndcg@5 from the torch module after each epoch
        assert len(t["intermediate"]) == 2
        assert all(0.0 <= v <= 1.0 for v in t["intermediate"].values())
    ease = SearchSpace.from_dict({"params": {"reg": {"type": "float", "low": 1, "high": 500}}})
    res = tune("ease", data, ease, trials=2, metric="ndcg@5")
    assert all(t["intermediate"] == {} and t["state"] == "complete" for t in res.trials)
    assert 0.0 <= res.test["tuned"]["ndcg@5"] <= 1.0


def test_cli_best_toml_round_trips_into_evaluate_and_train(files, tmp_path) -> None:
    best, out = tmp_path / "best.toml", tmp_path / "tune.json"
    res = runner.invoke(
        app,
        [
            "tune",
            "--data",
            str(files / "ratings.csv"),
            "--model",
            "svd",
            "--space",
            str(files / "space.toml"),
            "--trials",
            "3",
            "--metric",
            "rmse",
            "--seed",
            "3",
            "--out",
            str(best),
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["kind"] == "tune" and doc["n_trials"] == 3
    assert set(doc["best"]["params"]) == {"reg", "embedding_size", "epochs"}
    ev = tmp_path / "ev.json"
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--data",
            str(files / "ratings.csv"),
            "--config",
            str(best),
            "--json",
            str(ev),
        ],
    )
    assert res.exit_code == 0, res.output
    evaluated = json.loads(ev.read_text())
    assert evaluated["split"]["method"] == "random" and evaluated["split"]["seed"] == 3
    assert evaluated["mean"]["rmse"] == pytest.approx(doc["test"]["tuned"]["rmse"], abs=1e-12)
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(files / "ratings.csv"),
            "--config",
            str(best),
            "--out",
            str(tmp_path / "art"),
        ],
    )
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "art" / "config.json").read_text())
    assert json.dumps(cfg).count(str(doc["best"]["params"]["embedding_size"])) >= 1


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[params.reg]\ntype = 'float'\nlow = 1.0\nhigh = 0.1\n", "params.reg"),
        ("[params.reg]\ntype = 'real'\nlow = 0.1\nhigh = 1.0\n", "params.reg"),
        ("[params.reg]\ntype = 'float'\nlow = 0.0\nhigh = 1.0\nlog = true\n", "params.reg"),
        ("[params.reg]\ntype = 'float'\nlow = 0.1\nhigh = 1.0\nlo = 2\n", "params.reg"),
        ("[params.sim]\ntype = 'categorical'\nchoices = []\n", "params.sim"),
        ("[params.reg]\ntype = 'float'\nlow = 0.1\nhigh = 1.0\n[fixd]\nepochs = 2\n", "fixd"),
        ("[params.nope]\ntype = 'int'\nlow = 1\nhigh = 3\n", "nope"),
        ("[params.reg\n", "space.toml"),
        ("[params.shuffle]\ntype = 'categorical'\nchoices = [true, 'maybe']\n", "shuffle"),
    ],
)
def test_bad_space_is_a_one_line_error_naming_file_and_field(files, tmp_path, text, field) -> None:
    space = tmp_path / "space.toml"
    space.write_text(text)
    res = runner.invoke(
        app,
        [
            "tune",
            "--data",
            str(files / "ratings.csv"),
            "--model",
            "svd",
            "--space",
            str(space),
            "--trials",
            "2",
        ],
    )
    assert res.exit_code == 2, res.output
    message = res.output.strip()
    assert "\n" not in message and str(space) in message and field in message


def test_settings_tune_cannot_honour_are_errors(data) -> None:
    with pytest.raises(ConfigError, match="single train/test split"):
        tune("svd", data, svd_space(), trials=2, split="kfold")
    with pytest.raises(ConfigError, match="trials"):
        tune("svd", data, svd_space(), trials=0)

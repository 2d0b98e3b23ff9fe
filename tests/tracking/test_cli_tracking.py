"""Every tracked command logs an MLflow run: params, final and per-epoch metrics, tags, artifact.

Also: tracking without mlflow installed is a one-line error naming the extra, and rectune's CLI
imports no mlflow unless tracking is asked for.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.registry.artifacts import read_json
from rectune.testing import low_rank

runner = CliRunner()

SPACE = """
[params.reg]
type = "float"
low = 0.001
high = 0.5
log = true

[fixed]
epochs = 6
embedding_size = 4
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    data = low_rank(n_users=50, n_items=40, density=0.35)
    order = np.argsort(data.timestamps, kind="stable")
    data.to_frame().to_csv(root / "ratings.csv", index=False)
    data.subset(order[: len(order) // 2]).to_frame().to_csv(root / "new.csv", index=False)
    (root / "space.toml").write_text(SPACE)
    return root


def _flags(uri: str, name: str) -> list[str]:
    return ["--mlflow-uri", uri, "--mlflow-experiment", name]


def _one_run(client, exp_id):
    runs = client.search_runs([exp_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def _steps(client, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def _artifacts(client, run_id: str, path: str) -> set[str]:
    return {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id, path)}


def test_train_then_finetune_runs(
    files, tmp_path, client, tracking_uri, experiment, monkeypatch
) -> None:
    name, exp_id = experiment()
    art = tmp_path / "svd"
    res = runner.invoke(
        app,
        ["train", "--data", str(files / "ratings.csv"), "--format", "csv", "--model", "svd",
         "--set", "epochs=5", "--set", "embedding_size=6", "--out", str(art),
         *_flags(tracking_uri, name)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    run = _one_run(client, exp_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "train-svd"
    params, tags = run.data.params, run.data.tags
    assert params["model"] == "svd" and params["epochs"] == "5"
    assert params["embedding_size"] == "6" and params["train.seed"] == "0"
    lineage = read_json(art, "lineage.json")
    assert tags["rectune.command"] == "train"
    assert tags["rectune.data_fingerprint"] == lineage["data_fingerprint"]
    assert tags["rectune.artifact_id"] == lineage["id"] and tags["rectune.version"]
    assert "rectune.parent_id" not in tags
    assert run.data.metrics["n_interactions"] == lineage["n_interactions"]
    assert _steps(client, run.info.run_id, "loss") == [1, 2, 3, 4, 5]  # one per epoch
    history = sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
    assert [m.value for m in history] == pytest.approx(_epoch_losses(files / "ratings.csv"))
    assert {"manifest.json", "params.npz", "lineage.json"} <= _artifacts(
        client, run.info.run_id, "artifact"
    )

    name2, exp2 = experiment()
    child = tmp_path / "svd-ft"
    res = runner.invoke(
        app,
        ["finetune", "--from", str(art), "--data", str(files / "new.csv"), "--format", "csv",
         "--out", str(child), "--strategy", "l2sp=0.1", "--epochs", "4", "--early-stopping",
         "10", "--mlflow-log-model", *_flags(tracking_uri, name2)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    run = _one_run(client, exp2)
    tags, params = run.data.tags, run.data.params
    assert tags["rectune.command"] == "finetune" and tags["rectune.parent_id"] == lineage["id"]
    assert tags["rectune.parent_checksum"] == read_json(art, "manifest.json")["checksum"]
    assert params["train.epochs"] == "4" and params["strategy.l2sp"]
    # Early stopping held out a validation share: its RMSE after every epoch.
    assert _steps(client, run.info.run_id, "validation_rmse") == [1, 2, 3, 4]
    assert "lineage.json" in _artifacts(client, run.info.run_id, "artifact")
    # --mlflow-log-model: the run's MLflow model loads and answers as the fine-tuned artifact.
    import mlflow
    import pandas as pd

    import rectune

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)  # where runs:/ URIs resolve
    served = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    users = rectune.load(child).user_map_.ids[:3]
    answer = served.predict(pd.DataFrame({"user_id": users}))
    assert [list(x) for x in answer["item_ids"]] == rectune.load(child).recommend(users)[0].tolist()


def _epoch_losses(path) -> list[float]:
    """The per-epoch training loss of the same fit in this process (seeded: the same)."""
    from rectune.data.loaders import load
    from rectune.models import create_model
    from rectune.training import TrainConfig

    model = create_model("svd", epochs=5, embedding_size=6)
    model.fit(load(path, format="csv"), train=TrainConfig(seed=0))
    return [e["loss"] for e in model.epoch_history_]


def test_evaluate_run(files, tmp_path, client, tracking_uri, experiment) -> None:
    name, exp_id = experiment()
    out = tmp_path / "ev.json"
    res = runner.invoke(
        app,
        ["evaluate", "--data", str(files / "ratings.csv"), "--format", "csv", "--model", "svd",
         "--set", "epochs=3", "--split", "kfold", "--folds", "2", "--metrics", "rmse,ndcg@5",
         "--json", str(out), *_flags(tracking_uri, name)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    run = _one_run(client, exp_id)
    metrics = run.data.metrics
    assert metrics["rmse"] == pytest.approx(doc["mean"]["rmse"])
    assert metrics["ndcg_at_5"] == pytest.approx(doc["mean"]["ndcg@5"])  # '@' is not allowed
    assert run.data.params["split.method"] == "kfold" and run.data.params["epochs"] == "3"
    assert _steps(client, run.info.run_id, "fold_rmse") == [1, 2]
    assert _steps(client, run.info.run_id, "fold2_loss") == [1, 2, 3]
    assert run.data.tags["rectune.data_fingerprint"] == doc["data"]["fingerprint"]
    assert "evaluation.json" in _artifacts(client, run.info.run_id, "")


def test_tune_parent_and_nested_trial_runs(files, tmp_path, client, tracking_uri, experiment):
    name, exp_id = experiment()
    best = tmp_path / "best.toml"
    res = runner.invoke(
        app,
        ["tune", "--data", str(files / "ratings.csv"), "--format", "csv", "--model", "svd",
         "--space", str(files / "space.toml"), "--trials", "3", "--metric", "rmse",
         "--out", str(best), *_flags(tracking_uri, name)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    runs = client.search_runs([exp_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 4
    parent = parents[0]
    assert parent.data.params["model"] == "svd" and parent.data.params["metric"] == "rmse"
    assert parent.data.metrics["test_tuned_rmse"] > 0 and "best.reg" in parent.data.params
    assert {"tune.json", "best.toml"} <= _artifacts(client, parent.info.run_id, "")
    trials = sorted((r for r in runs if r is not parent), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in trials] == ["trial-0", "trial-1", "trial-2"]
    for t in trials:
        assert t.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert "reg" in t.data.params and t.data.tags["rectune.trial_state"] == "complete"
        # The pruner's validation value after each epoch, and the training loss per epoch.
        assert _steps(client, t.info.run_id, "epoch_validation_rmse") == [1, 2, 3, 4, 5, 6]
        assert _steps(client, t.info.run_id, "loss") == [1, 2, 3, 4, 5, 6]
    best_value = min(t.data.metrics["validation_rmse"] for t in trials)
    assert parent.data.metrics["best_validation_rmse"] == pytest.approx(best_value)


def test_updater_session_run_has_a_step_per_cycle(tmp_path, client, tracking_uri, experiment):
    from rectune.online import Registry

    reg, store = _updater_world(tmp_path)
    name, exp_id = experiment()
    res = runner.invoke(
        app,
        ["updater", "--registry", str(reg.root), "--store", store.url, "--once", "--json",
         "--every-events", "300", "--guard", "rmse<=+1", *_flags(tracking_uri, name)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    cycles = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    run = _one_run(client, exp_id)
    rid = run.info.run_id
    assert len(cycles) >= 1 and run.data.params["policy"] == "partial"
    steps = list(range(1, len(cycles) + 1))
    assert _steps(client, rid, "promoted") == steps and _steps(client, rid, "lag_events") == steps
    history = client.get_metric_history(rid, "promoted")
    assert [int(m.value) for m in sorted(history, key=lambda m: m.step)] == [
        int(c["promoted"]) for c in cycles
    ]
    guarded = [k for k, c in enumerate(cycles, start=1) if c["holdout"] > 0]  # else no check
    assert guarded and _steps(client, rid, "guard_rmse_candidate") == guarded
    assert run.data.metrics["final_lag_events"] == 0 and run.data.metrics["cycles"] == len(cycles)
    assert run.data.tags["rectune.champion_version"] == str(Registry(reg.root).aliases["champion"])
    assert "manifest.json" in _artifacts(client, rid, "artifact")


def test_tracking_without_mlflow_is_a_clear_error(files, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    res = runner.invoke(
        app,
        ["train", "--data", str(files / "ratings.csv"), "--model", "popularity",
         "--out", str(tmp_path / "a"), "--mlflow"],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "pip install rectune[mlflow]" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "a").exists()  # refused before any work


def test_bad_tracking_uri_is_a_clear_error(files, tmp_path) -> None:
    pytest.importorskip("mlflow")
    res = runner.invoke(
        app,
        ["train", "--data", str(files / "ratings.csv"), "--model", "popularity",
         "--out", str(tmp_path / "a"), "--mlflow-uri", "nosuchscheme://x"],
    )  # fmt: skip
    assert res.exit_code == 2 and "nosuchscheme://x" in res.output, res.output


def test_cli_without_mlflow_works_when_tracking_is_off(files, tmp_path, monkeypatch) -> None:
    """With ``import mlflow`` failing, untracked commands run: nothing imports it unasked."""
    monkeypatch.setitem(sys.modules, "mlflow", None)
    for name in [n for n in sys.modules if n.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    res = runner.invoke(
        app,
        ["train", "--data", str(files / "ratings.csv"), "--model", "svd", "--set", "epochs=2",
         "--out", str(tmp_path / "a")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        ["evaluate", "--data", str(files / "ratings.csv"), "--model", "popularity",
         "--split", "random"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output


def _updater_world(tmp_path):
    """An SVD champion in a registry, and 1,000 newer events waiting in its store."""
    from rectune.data.synthetic import generate
    from rectune.models import create_model
    from rectune.online import EventStore, Registry

    data = generate(200, 100, 4_000, seed=3, with_features=False)
    order = np.argsort(data.timestamps, kind="stable")
    old, new = data.subset(order[:3_000]), data.subset(order[3_000:])
    create_model("svd", epochs=3).fit(old).save(tmp_path / "svd")
    reg = Registry.init(tmp_path / "reg", tmp_path / "svd")
    store = EventStore(f"sqlite:///{tmp_path / 'ev.db'}")
    store.append(
        {"user_id": new.user_ids, "item_id": new.item_ids, "value": new.values,
         "timestamp": new.timestamps}
    )  # fmt: skip
    return reg, store


def test_service_updater_process_logs_its_session(tmp_path, client, tracking_uri, experiment):
    """``rectune serve --mlflow*``: the updater child process logs one run, a step per cycle,
    and ends it FINISHED when the service stops it."""
    import time

    from rectune.serving.settings import ServeSettings
    from rectune.serving.updating import UpdaterProcess

    reg, store = _updater_world(tmp_path)
    name, exp_id = experiment()
    settings = ServeSettings(
        registry=str(reg.root), store=store.url, every_events=200, every_seconds=0.2,
        updater_nice=0, mlflow_uri=tracking_uri, mlflow_experiment=name,
    )  # fmt: skip
    proc = UpdaterProcess(settings)
    proc.start()
    try:
        deadline = time.monotonic() + 90
        while proc.status().get("lag_events", 1) > 0 or not proc.status().get("cycles"):
            assert proc.state not in ("failed", "stopped"), proc.status()
            assert time.monotonic() < deadline, proc.status()
            time.sleep(0.2)
        cycles = proc.status()["cycles"]
    finally:
        proc.stop()
    run = _one_run(client, exp_id)
    assert run.info.status == "FINISHED" and run.data.tags["rectune.command"] == "serve"
    assert _steps(client, run.info.run_id, "promoted") == list(range(1, cycles + 1))
    assert run.data.metrics["final_lag_events"] == 0
    assert "manifest.json" in _artifacts(client, run.info.run_id, "artifact")


def test_serve_refuses_mlflow_without_an_updater(tmp_path) -> None:
    reg, store = _updater_world(tmp_path)
    res = runner.invoke(
        app,
        ["serve", "--registry", str(reg.root), "--store", store.url, "--no-update", "--mlflow",
         "--port", "0"],
    )  # fmt: skip
    assert res.exit_code == 2 and "--no-update" in res.output, res.output

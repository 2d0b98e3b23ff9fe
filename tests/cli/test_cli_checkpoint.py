"""``rectune train --checkpoint-dir`` (resume), its refusal off torch, the estimate warning."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from rectune.cli._common import ConsoleHandler
from rectune.cli.main import app
from rectune.testing import low_rank

runner = CliRunner()
NCF = ["--model", "ncf", "--set", "embedding_size=4", "--set", "layers=[8]",
       "--set", "batch_size=64"]  # fmt: skip


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    low_rank(n_users=40, n_items=30, density=0.3).to_frame().to_csv(path, index=False)
    return str(path)


def _train(csv: str, out, *extra: str):
    return runner.invoke(app, ["train", "--data", csv, "--out", str(out), *NCF, *extra])


def test_train_checkpoints_and_resumes(ratings_csv, tmp_path) -> None:
    ck = tmp_path / "ck"
    res = _train(ratings_csv, tmp_path / "a", "--set", "epochs=2", "--checkpoint-dir", str(ck))
    assert res.exit_code == 0, res.output
    assert json.loads((ck / "trainer.json").read_text())["epoch"] == 2
    # A longer run on the same directory resumes at epoch 2 and equals an uninterrupted one.
    res = _train(ratings_csv, tmp_path / "b", "--set", "epochs=4", "--checkpoint-dir", str(ck))
    assert res.exit_code == 0, res.output
    assert json.loads((ck / "trainer.json").read_text())["epoch"] == 4
    res = _train(ratings_csv, tmp_path / "c", "--set", "epochs=4")
    assert res.exit_code == 0, res.output
    recs = []
    for art in ("b", "c"):
        out = runner.invoke(app, ["recommend", "--from", str(tmp_path / art), "--user", "0",
                                  "--user", "1", "-n", "5", "--json"])  # fmt: skip
        assert out.exit_code == 0, out.output
        recs.append(json.loads(out.output))
    assert recs[0] == recs[1]


def test_train_checkpoint_dir_on_a_model_without_epochs_exits_2(ratings_csv, tmp_path) -> None:
    args = ["train", "--data", ratings_csv, "--out", str(tmp_path / "a"), "--model", "svd"]
    res = runner.invoke(app, [*args, "--checkpoint-dir", str(tmp_path / "ck")])
    assert res.exit_code == 2
    assert "svd cannot checkpoint" in res.output
    assert not (tmp_path / "a").exists()


def test_finetune_warns_with_the_estimate(ratings_csv, tmp_path, caplog) -> None:
    assert _train(ratings_csv, tmp_path / "a", "--set", "epochs=1").exit_code == 0
    with caplog.at_level(logging.WARNING, logger="rectune.training.progress"):
        res = runner.invoke(app, ["finetune", "--from", str(tmp_path / "a"), "--data",
                                  ratings_csv, "--out", str(tmp_path / "b"), "--epochs", "2",
                                  "--set", "train.warn_seconds=1e-9"])  # fmt: skip
    assert res.exit_code == 0, res.output
    (msg,) = [r.getMessage() for r in caplog.records]
    assert msg.startswith("ncf: estimated ") and " for 2 epochs x " in msg


def test_log_lines_print_through_the_console(capsys) -> None:
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    record = logging.LogRecord("rectune.x", logging.WARNING, __file__, 1, "estimated [42] min",
                               None, None)  # fmt: skip
    handler.emit(record)
    assert capsys.readouterr().err == "WARNING rectune.x: estimated [42] min\n"

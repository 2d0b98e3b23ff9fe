"""The base class refuses what would silently do nothing or poison a model (issue 7, s. 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, DataError
from rectune.models import create_model
from rectune.testing import low_rank, two_clusters
from rectune.training import TrainConfig


def _nan_rows(model) -> Interactions:
    """One row of known ids with a NaN value, built by hand (not through `from_raw`)."""
    idx = np.array([0], dtype=np.int32)
    return Interactions(idx, idx, np.array([np.nan]), model.user_map_, model.item_map_)


@pytest.mark.parametrize("step", ["partial_fit", "finetune"])
def test_nan_values_refused_before_the_model_changes(step: str) -> None:
    # Before: one NaN row turned every NMF prediction into NaN (or a ZeroDivisionError).
    model = create_model("nmf", epochs=5, embedding_size=3).fit(low_rank())
    users, items = model.user_map_.ids[:20], model.item_map_.ids[:20]
    before = model.predict(users, items)
    with pytest.raises(DataError, match=r"row 0, field 'rating': not finite: nan"):
        getattr(model, step)(_nan_rows(model))
    np.testing.assert_array_equal(model.predict(users, items), before)


def test_nan_values_refused_by_fit() -> None:
    data = low_rank()
    data.values[3] = np.inf
    with pytest.raises(DataError, match=r"row 3, field 'rating': not finite: inf"):
        create_model("svd").fit(data)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_recommend_and_similar_items_refuse_n_below_one(n) -> None:
    # Before: n < 1 returned empty lists without a word.
    model = create_model("item-knn").fit(two_clusters())
    user, item = model.user_map_.ids[0], model.item_map_.ids[0]
    with pytest.raises(ConfigError, match=r"^n must be a whole number >= 1"):
        model.recommend([user], n=n)
    with pytest.raises(ConfigError, match=r"^n must be a whole number >= 1"):
        model.similar_items([item], n=n)
    assert model.recommend([user], n=1)[0].shape == (1, 1)


def test_unhonoured_train_setting_refused_in_python() -> None:
    # Before: accepted, recorded in fit_info_ and the artifact, and changing nothing.
    model = create_model("item-knn").fit(two_clusters())
    with pytest.raises(ConfigError, match=r"^item-knn cannot honour setting\(s\) learning_rate"):
        model.finetune(two_clusters(seed=1), train=TrainConfig(learning_rate=1000))
    with pytest.raises(ConfigError, match=r"^ease cannot honour setting\(s\) epochs in fit"):
        create_model("ease").fit(two_clusters(), train=TrainConfig(epochs=3))


def test_cli_finetune_learning_rate_on_item_knn_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "r.csv"
    two_clusters().to_frame().to_csv(data, index=False)
    res = runner.invoke(
        app, ["train", "--data", str(data), "--model", "item-knn", "--out", str(tmp_path / "p")]
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "child"
    res = runner.invoke(
        app,
        ["finetune", "--from", str(tmp_path / "p"), "--data", str(data), "--out", str(out),
         "--learning-rate", "1000"],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert "learning_rate" in lines[0] and "item-knn" in lines[0], res.output
    assert not out.exists(), "no artifact is written for a refused setting"

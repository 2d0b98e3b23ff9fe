from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from rectune.errors import ArtifactError
from rectune.models.baselines import Baseline
from rectune.registry import load_model, read_manifest, save_model
from rectune.testing import low_rank


@pytest.fixture(scope="module")
def model() -> Baseline:
    return Baseline().fit(low_rank())


def test_artifact_layout_and_lineage(tmp_path, model) -> None:
    path = tmp_path / "v1"
    artifact_id = save_model(model, path, metrics={"rmse": 0.9})
    names = {p.name for p in path.iterdir()}
    assert {
        "config.json",
        "params.npz",
        "ids.json",
        "train.json",
        "metrics.json",
        "lineage.json",
        "manifest.json",
    } <= names
    lineage = json.loads((path / "lineage.json").read_text())
    assert lineage["id"] == artifact_id and lineage["parent"] is None
    assert lineage["data_fingerprint"] == low_rank().fingerprint()
    assert json.loads((path / "metrics.json").read_text()) == {"rmse": 0.9}
    child = tmp_path / "v2"
    save_model(model, child, parent=path)
    parent = json.loads((child / "lineage.json").read_text())["parent"]
    assert parent["id"] == artifact_id
    assert parent["checksum"] == read_manifest(path)["checksum"]


def test_params_hold_no_pickle(tmp_path, model) -> None:
    save_model(model, tmp_path / "a")
    with zipfile.ZipFile(tmp_path / "a" / "params.npz") as zf:
        for name in zf.namelist():
            header = zf.read(name)[:128]
            assert b"'descr': '|O'" not in header


def test_tampered_artifact_is_rejected(tmp_path, model) -> None:
    save_model(model, tmp_path / "a")
    cfg = tmp_path / "a" / "config.json"
    cfg.write_text(cfg.read_text().replace("10", "11"))
    with pytest.raises(ArtifactError, match="checksum"):
        load_model(tmp_path / "a")


def test_missing_directory_is_clear(tmp_path) -> None:
    with pytest.raises(ArtifactError, match="not an artifact"):
        load_model(tmp_path / "nothing")


def test_overwrite_keeps_a_loadable_artifact(tmp_path, model) -> None:
    data = low_rank()
    save_model(model, tmp_path / "a")
    save_model(model, tmp_path / "a")
    loaded = load_model(tmp_path / "a")
    np.testing.assert_array_equal(
        loaded.predict(data.user_ids, data.item_ids), model.predict(data.user_ids, data.item_ids)
    )
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_refuses_overwrite_when_asked(tmp_path, model) -> None:
    save_model(model, tmp_path / "a")
    with pytest.raises(ArtifactError, match="exists"):
        save_model(model, tmp_path / "a", overwrite=False)

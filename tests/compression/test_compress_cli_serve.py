"""``rectune compress``: exit codes and JSON; the service (`rectune serve`) on its artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import rectune
from rectune.cli.main import app
from rectune.models import create_model
from rectune.online import Registry
from rectune.serving import create_app
from rectune.testing import low_rank
from rectune.training import TrainConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def arts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compress-cli")
    data = low_rank(n_users=60, n_items=50, density=0.4, seed=3)
    create_model("svd", embedding_size=8, epochs=20).fit(data, train=TrainConfig(seed=0)).save(
        root / "svd"
    )
    create_model("item-knn").fit(data).save(root / "knn")
    return {"root": root, "svd": root / "svd", "knn": root / "knn"}


def test_cli_compress_writes_the_artifact_and_the_record(arts: dict[str, Path]) -> None:
    out, js = arts["root"] / "svd-int8", arts["root"] / "rec.json"
    res = runner.invoke(
        app,
        ["compress", "--from", str(arts["svd"]), "--method", "int8", "--out", str(out),
         "--json", str(js)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rec = json.loads(js.read_text())
    assert rec["method"] == "int8" and rec["model"] == "svd"
    assert rec["artifact_bytes_after"] < rec["artifact_bytes_before"]
    assert rec["parent"]["id"] == json.loads((arts["svd"] / "manifest.json").read_text())["id"]
    assert rectune.load(out).name == "svd"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--method", "int8"], "int8 cannot apply to item-knn"),
        (["--method", "prune"], "top_k must be a positive integer"),
        (["--method", "prune", "--top-k", "3", "--keep-fraction", "0.5"], "keep_fraction"),
    ],
)
def test_cli_refusals_exit_2_with_one_line(arts: dict[str, Path], args, match) -> None:
    out = arts["root"] / "never"
    res = runner.invoke(app, ["compress", "--from", str(arts["knn"]), *args, "--out", str(out)])
    assert res.exit_code == 2
    assert match in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_missing_source_exits_2(arts: dict[str, Path]) -> None:
    missing = arts["root"] / "nothing"
    res = runner.invoke(
        app, ["compress", "--from", str(missing), "--method", "fp16", "--out", str(missing) + "2"]
    )
    assert res.exit_code == 2 and "not an artifact" in res.output


def test_the_service_serves_a_compressed_champion(arts: dict[str, Path], tmp_path: Path) -> None:
    out = arts["root"] / "svd-serve"
    res = runner.invoke(
        app, ["compress", "--from", str(arts["svd"]), "--method", "int8", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    reg = Registry.init(tmp_path / "reg", out)
    model = rectune.load(out)
    user = int(model.user_map_.ids[0])
    want = [int(i) for i in model.recommend([user], n=5)[0][0]]
    service = create_app(reg, settings={"update": False, "poll_seconds": 0.05})
    with TestClient(service) as client:
        assert service.state.service.holder.wait_loaded(10) is not None
        got = client.get(f"/v1/recommend/{user}", params={"n": 5}).json()
    assert [i["item_id"] for i in got["items"]] == want and not got["fallback"]
    assert np.all(np.diff([i["score"] for i in got["items"]]) <= 0)

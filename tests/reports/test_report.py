"""`rectune report`: every result kind renders, the page links nothing, bad input is an error."""

from __future__ import annotations

import json
import re

import optuna
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from rectune.testing import low_rank

runner = CliRunner()
optuna.logging.set_verbosity(optuna.logging.WARNING)

COMPRESS = {
    "kind": "compress",
    "model": "svd",
    "metric": "rmse",
    "rows": [
        {"method": "none", "bytes": 400_000, "metric": 0.93, "delta": 0.0, "ci": [0.0, 0.0]},
        {
            "method": "int8",
            "bytes": 110_000,
            "metric": 0.931,
            "delta": 0.001,
            "ci": [0.0004, 0.0016],
            "load_seconds": 0.01,
        },
    ],
}
L2SP = {
    "kind": "l2sp",
    "dataset": "ml-100k",
    "rows": [
        {"run": "parent", "lambda": None, "new_rmse": 1.01, "old_rmse": 0.93},
        {"run": "fine-tune", "lambda": 0.0, "new_rmse": 0.97, "old_rmse": 0.95},
        {"run": "fine-tune", "lambda": 1.0, "new_rmse": 0.98, "old_rmse": 0.935},
    ],
}


def invoke(*args: str) -> None:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, str]:
    """Real --json output of evaluate, compare, replay and tune on a small synthetic set."""
    root = tmp_path_factory.mktemp("report")
    data = root / "ratings.csv"
    low_rank(n_users=50, n_items=40, density=0.4).to_frame().to_csv(data, index=False)
    d = str(data)
    out = {k: str(root / f"{k}.json") for k in ("evaluate", "compare", "replay", "tune")}
    invoke(
        "evaluate",
        "--data",
        d,
        "--model",
        "svd",
        "--set",
        "epochs=4",
        "--split",
        "kfold",
        "--folds",
        "2",
        "--metrics",
        "rmse,ndcg@5",
        "--json",
        out["evaluate"],
    )
    for name, epochs in (("a", 2), ("b", 8)):
        invoke(
            "train",
            "--data",
            d,
            "--model",
            "svd",
            "--set",
            f"epochs={epochs}",
            "--out",
            str(root / name),
        )
    invoke(
        "compare",
        str(root / "a"),
        str(root / "b"),
        "--data",
        d,
        "--metrics",
        "rmse",
        "--n-boot",
        "200",
        "--json",
        out["compare"],
    )
    invoke(
        "replay",
        "--data",
        d,
        "--model",
        "svd",
        "--update",
        "partial",
        "--chunks",
        "4",
        "--json",
        out["replay"],
    )
    space = root / "space.toml"
    space.write_text(
        "[params.reg]\ntype='float'\nlow=0.001\nhigh=0.3\nlog=true\n[fixed]\nepochs=6\n"
    )
    invoke(
        "tune",
        "--data",
        d,
        "--model",
        "svd",
        "--space",
        str(space),
        "--trials",
        "3",
        "--metric",
        "rmse",
        "--json",
        out["tune"],
    )
    for name, doc in (("compress", COMPRESS), ("l2sp", L2SP)):
        out[name] = str(root / f"{name}.json")
        (root / f"{name}.json").write_text(json.dumps(doc))
    return out


def test_every_kind_renders_with_its_plots_and_links_nothing(results, tmp_path) -> None:
    from rectune.reports import build_report, kind_of

    for kind, path in results.items():
        assert kind_of(json.loads(open(path).read()), path) == kind
    order = ["evaluate", "compare", "replay", "tune", "compress", "l2sp"]
    page = build_report([results[k] for k in order])
    assert page.count('<section class="result">') == 6
    titles = re.findall(r"<svg [^>]*aria-label=\"([^\"]+)\"", page)
    for expected in (
        "metric per fold",
        "learning curve",
        "B vs A (paired bootstrap 95% CI)",
        "per-rating change of rmse",
        "prequential accuracy over time",
        "search history",
        "validation metric per epoch",
        "size / accuracy trade-off",
        "L2-SP sweep",
    ):
        assert expected in titles, (expected, titles)
    # Self-contained: no URL, no external src/href, no CSS import.
    assert "http" not in page and "//" not in page.replace("<!--", "")
    links = re.findall(r"\b(?:src|href)\s*=\s*\"([^\"]*)\"", page)
    assert links and all(v.startswith("#") for v in links)  # only the SVGs' own glyph uses
    assert "@import" not in page
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", page))  # clip paths
    # The tables carry the numbers of the JSON (CIs included).
    cmp = json.loads(open(results["compare"]).read())["metrics"]["rmse"]
    assert f"{cmp['ci_low']:.4f}" in page and f"{cmp['ci_high']:.4f}" in page


def test_cli_writes_the_page_and_refuses_unknown_json(results, tmp_path) -> None:
    out = tmp_path / "r.html"
    invoke("report", results["replay"], results["tune"], "--out", str(out))
    assert out.read_text().count("<svg") >= 3
    bad = tmp_path / "other.json"
    for text, needle in (
        ('{"foo": 1, "bar": 2}', "not a result rectune report knows"),
        ('{"kind": "nope"}', "unknown result kind"),
        ('{"kind": "tune"}', "needs keys"),
        ('{\n"a": }', "line 2"),
        ("[1, 2]", "JSON object"),
    ):
        bad.write_text(text)
        res = runner.invoke(app, ["report", str(bad), "--out", str(tmp_path / "x.html")])
        assert res.exit_code == 2, res.output
        msg = res.output.strip()
        assert "\n" not in msg and str(bad) in msg and needle in msg, msg
    res = runner.invoke(app, ["report", str(tmp_path / "missing.json"), "--out", str(out)])
    assert res.exit_code == 2 and "file not found" in res.output


def test_a_compress_cli_record_renders_its_table_sizes(tmp_path) -> None:
    from rectune.compression import compress_artifact
    from rectune.models import create_model
    from rectune.reports import build_report, kind_of

    create_model("svd", epochs=2).fit(low_rank(60, 40, seed=0)).save(tmp_path / "a")
    record = compress_artifact(tmp_path / "a", tmp_path / "b", "int8")
    path = tmp_path / "c.json"
    path.write_text(json.dumps(record, default=str))
    assert kind_of(json.loads(path.read_text()), str(path)) == "compress-record"
    page = build_report([str(path)])
    assert "how many times smaller" in page and "item_factors" in page
    ratio = (
        record["tensors"]["item_factors"]["bytes_before"]
        / record["tensors"]["item_factors"]["bytes_after"]
    )
    assert f"{ratio:.2f}x" in page and "http" not in page


def test_evaluate_of_svdpp_and_als_draws_their_learning_curves(tmp_path) -> None:
    """SVD++ (training RMSE) and ALS (Hu et al.'s loss) record epochs: evaluate's folds carry
    them and the page draws a learning curve for each."""
    from rectune.reports import build_report

    ratings = tmp_path / "ratings.csv"
    low_rank(n_users=40, n_items=30, density=0.4).to_frame().to_csv(ratings, index=False)
    pages = {}
    for model, epochs in (("svdpp", 5), ("als", 4)):
        out = tmp_path / f"{model}.json"
        invoke("evaluate", "--data", str(ratings), "--model", model, "--set",
               f"epochs={epochs}", "--set", "embedding_size=4", "--metrics", "ndcg@5",
               "--json", str(out))  # fmt: skip
        folds = json.loads(out.read_text())["folds"]
        assert [len(f["epoch_history"]) for f in folds] == [epochs] * len(folds)
        pages[model] = build_report([str(out)])
    for model, page in pages.items():
        titles = re.findall(r"<svg [^>]*aria-label=\"([^\"]+)\"", page)
        assert "learning curve" in titles, (model, titles)

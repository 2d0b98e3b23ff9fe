"""``rectune update --items FILE``: catalogue items with text and no interactions (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rectune
from rectune.cli.main import app
from rectune.data.synthetic import generate
from tests.test_conformance import _tiny_text_encoder

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """An ALS artifact fitted without 8 items, and those items as a MovieLens-style file."""
    root = tmp_path_factory.mktemp("additems")
    data = generate(n_users=80, n_items=60, n_interactions=1500, seed=2, new_item_fraction=0)
    cold = np.unique(data.item_ids)[::7][:8]
    frame = data.to_frame()
    frame[~frame.item_id.isin(cold)].to_csv(root / "warm.csv", index=False)
    frame[frame.item_id.isin(cold)].head(6).to_csv(root / "events.csv", index=False)
    text = data.item_text
    titles = text.str.split(" | ").str[0]
    genres = text.str.split(" | ").str[1].str.replace(", ", "|")
    movies = pd.DataFrame({"movieId": text.index, "title": titles, "genres": genres})
    movies[movies.movieId.isin(cold)].to_csv(root / "new.csv", index=False)
    movies[~movies.movieId.isin(cold)].to_csv(root / "catalogue.csv", index=False)
    res = runner.invoke(app, ["train", "--data", str(root / "warm.csv"), "--model", "als",
                              "--set", "embedding_size=8", "--out", str(root / "v1")])  # fmt: skip
    assert res.exit_code == 0, res.output
    return {"root": root, "v1": root / "v1", "cold": cold}  # type: ignore[dict-item]


def _update(files, out: Path, *extra: str):
    return runner.invoke(app, ["update", "--from", str(files["v1"]), "--out", str(out), *extra])


def test_items_are_added_from_text_with_lineage(files, tmp_path) -> None:
    root, out = files["root"], tmp_path / "v2"
    res = _update(files, out, "--items", str(root / "new.csv"), "--item-text",
                  str(root / "catalogue.csv"), "--text-encoder", _tiny_text_encoder(),
                  "--json", str(tmp_path / "s.json"))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "added 8 items with new_ids=text (0 already known)" in res.output
    lineage = json.loads((out / "lineage.json").read_text())
    parent = json.loads((files["v1"] / "lineage.json").read_text())
    assert lineage["parent"]["path"] == str(files["v1"].resolve())
    assert lineage["strategy"]["method"] == "add_items"
    assert lineage["strategy"]["items"] == 8 and lineage["strategy"]["new_ids"] == "text"
    assert sorted(lineage["strategy"]["item_ids"]) == sorted(files["cold"].tolist())
    assert parent["strategy"] is None
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["items_added"] == 8 and summary["new_items"] == 8
    model = rectune.load(out)
    rows = model.item_factors_[model.item_map_.index_of(files["cold"])]
    assert np.ptp(rows, axis=0).max() > 0  # rows differ by text (a mean start would not)
    ids, scores = model.recommend([1], n=len(model.item_map_))
    assert set(files["cold"].tolist()) <= set(ids[0][np.isfinite(scores[0])].tolist())


def test_items_then_events_and_known_rows_serve_as_text(files, tmp_path) -> None:
    """Known items listed in --items are not added but give the text map its targets."""
    root = files["root"]
    both = pd.concat([pd.read_csv(root / "catalogue.csv"), pd.read_csv(root / "new.csv")])
    both.to_json(tmp_path / "items.jsonl", orient="records", lines=True)
    out = tmp_path / "v2"
    res = _update(files, out, "--items", str(tmp_path / "items.jsonl"), "--events",
                  str(root / "events.csv"), "--text-encoder", _tiny_text_encoder())  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "added 8 items" in res.output and "already known" in res.output
    strategy = json.loads((out / "lineage.json").read_text())["strategy"]
    assert strategy["method"] == "add_items+partial_fit"
    assert strategy["add_items"]["items"] == 8 and strategy["partial_fit"]["events"] == 6
    model = rectune.load(out)
    events = pd.read_csv(root / "events.csv")
    assert model.seen_[model.user_map_.index_of(events.user_id[:1])[0],
                       model.item_map_.index_of(events.item_id[:1])[0]] > 0  # fmt: skip


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("movieId,title,genres\n1,Heat (1995),Crime\n9001,,Drama\n",
         "new.csv, line 3, field 'title': title is missing"),
        ("movieId,title\n9001,A\n9002,B\n9001,C\n",
         "line 4, field 'movieId': duplicate item id 9001 (first at line 2)"),
        ("movieId,title\nabc,A\n", "line 2, field 'movieId': not an integer id: 'abc'"),
        ("name,title\nx,A\n", "line 1, field 'item_id': no item id column"),
        ("movieId,title\n9001,A,extra\n", "line 2: expected 2 fields"),
    ],
)  # fmt: skip
def test_bad_items_files_exit_2_naming_line_and_field(files, tmp_path, content, words) -> None:
    bad = tmp_path / "new.csv"
    bad.write_text(content)
    res = _update(files, tmp_path / "v2", "--items", str(bad), "--new-ids", "mean")
    assert res.exit_code == 2, res.output
    assert words in res.output.replace("\n", " ") and not (tmp_path / "v2").exists()


def test_missing_catalogue_text_and_refused_starts_exit_2(files, tmp_path) -> None:
    root = files["root"]
    res = _update(files, tmp_path / "v2", "--items", str(root / "new.csv"))
    assert res.exit_code == 2 and "--item-text FILE|DIR" in res.output.replace("\n", " ")
    pop = tmp_path / "pop"
    assert runner.invoke(app, ["train", "--data", str(root / "warm.csv"), "--model",
                               "popularity", "--out", str(pop)]).exit_code == 0  # fmt: skip
    res = runner.invoke(app, ["update", "--from", str(pop), "--items", str(root / "new.csv"),
                              "--out", str(tmp_path / "p2")])  # fmt: skip
    assert res.exit_code == 2
    assert "popularity cannot honour setting(s) new_ids=text in add_items" in res.output
    res = _update(files, tmp_path / "v3")
    assert res.exit_code == 2 and "pass --events FILE, --items FILE or both" in res.output
    assert not any((tmp_path / d).exists() for d in ("v2", "p2", "v3"))

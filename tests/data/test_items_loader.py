"""Item records files (`rectune.data.loaders.items`): CSV, JSON Lines, Parquet; errors located."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rectune.data.loaders.items import load_items
from rectune.errors import DataError


def test_movielens_title_and_genres_become_text_and_features(tmp_path) -> None:
    f = tmp_path / "movies.csv"
    f.write_text('movieId,title,genres\n7,"Heat, The (1995)",Action|Crime\n9,Up (2009),\n')
    rec = load_items(f)
    assert rec.ids.tolist() == [7, 9] and rec.ids.dtype == np.int64
    assert rec.text.tolist() == ["Heat, The (1995) | Action, Crime", "Up (2009)"]
    assert rec.features.loc[7, ["Action", "Crime", "year"]].tolist() == [1, 1, 1995.0]
    assert rec.features.loc[9, "year"] == 2009.0


def test_jsonl_and_parquet_with_features(tmp_path) -> None:
    rows = [
        {"item_id": "a", "text": "Galaxy  Quest", "features": {"year": 1999, "studio": "X"}},
        {"item_id": "b", "text": "Love Actually", "features": {"year": 2003}},
    ]
    pd.DataFrame(rows).to_json(tmp_path / "i.jsonl", orient="records", lines=True)
    rec = load_items(tmp_path / "i.jsonl")
    assert rec.ids.tolist() == ["a", "b"] and rec.text.tolist()[0] == "Galaxy Quest"
    assert rec.features["year"].tolist() == [1999.0, 2003.0]
    assert rec.features["studio"].tolist()[0] == "X" and pd.isna(rec.features["studio"].iloc[1])
    pd.DataFrame({"itemId": [3, 4], "text": ["x y", "z"], "pop": [0.5, 1.5]}).to_parquet(
        tmp_path / "i.parquet"
    )
    rec = load_items(tmp_path / "i.parquet", int_ids=False)
    assert rec.ids.tolist() == ["3", "4"] and rec.features["pop"].tolist() == [0.5, 1.5]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("a.jsonl", '{"item_id": 1, "text": "x"}\n{"item_id": 2, "text": 5}\n',
         "line 2, field 'text': text is not a string"),
        ("a.jsonl", '{"item_id": 1, "text": "x"}\nnot json\n', "line 2: not JSON"),
        ("a.jsonl", '{"item_id": 1, "text": "x", "features": [1]}\n',
         "line 1, field 'features': features must be a mapping"),
        ("a.csv", "item_id,text\n,x\n", "line 2, field 'item_id': missing item id"),
        ("a.csv", "item_id,text\n", "no item rows"),
        ("a.tsv", "item_id\ttext\n1\tx\n1\ty\n", "line 3, field 'item_id': duplicate item id 1"),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_field(tmp_path, name, content, words) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError) as err:
        load_items(tmp_path / name)
    assert words in str(err.value) and name in str(err.value)


def test_integer_ids_are_enforced_when_asked(tmp_path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("item_id,text\n1,x\nb2,y\n")
    assert load_items(f).ids.tolist() == ["1", "b2"]  # inferred: not all integers
    with pytest.raises(DataError, match="line 3, field 'item_id': not an integer id: 'b2'"):
        load_items(f, int_ids=True)

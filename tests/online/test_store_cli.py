"""``rectune events ingest / count / export`` on both backends (the CLI contract)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rectune.cli.main import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["events", *args])


def test_ingest_is_idempotent_count_and_export(store_url: str, tmp_path: Path) -> None:
    f = tmp_path / "ev.csv"
    f.write_text("userId,movieId,rating,timestamp\n1,10,4,100\n2,10,3,200\n1,11,5,300\n")
    res = _run("ingest", "--store", store_url, "--file", str(f))
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"accepted": 3, "duplicates": 0, "last_seq": 3}
    res = _run("ingest", "--store", store_url, "--file", str(f), "--batch-size", "2")
    assert json.loads(res.output) == {"accepted": 0, "duplicates": 3, "last_seq": 3}
    res = _run("count", "--store", store_url, "--json")
    assert json.loads(res.output) == {"events": 3, "users": 2, "items": 2, "last_seq": 3}
    assert "last_seq" in _run("count", "--store", store_url).output
    out = tmp_path / "out.csv"
    res = _run("export", "--store", store_url, "--out", str(out))
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert frame["user_id"].tolist() == [1, 2, 1] and frame["seq"].tolist() == [1, 2, 3]


def test_ingest_with_event_ids_jsonl_and_parquet(store_url: str, tmp_path: Path) -> None:
    rows = [
        {"event_id": "a", "user_id": "u1", "item_id": "x", "value": 1.0, "timestamp": 5},
        {"event_id": "b", "user_id": "u2", "item_id": "x", "value": 2.0, "timestamp": 6},
    ]
    j = tmp_path / "ev.jsonl"
    j.write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = tmp_path / "ev.parquet"
    pd.DataFrame([*rows, {**rows[0], "event_id": "c"}]).to_parquet(p)
    assert (
        json.loads(_run("ingest", "--store", store_url, "--file", str(j)).output)["accepted"] == 2
    )
    res = _run("ingest", "--store", store_url, "--file", str(p))
    assert json.loads(res.output) == {"accepted": 1, "duplicates": 2, "last_seq": 3}


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ("userId,movieId,rating,timestamp\n1,10,4,100\n2,10,,200\n", 3, "rating"),
        ("user_id,item_id,timestamp\n1,10,100\n2,11,1700000000000\n", 3, "timestamp"),
        ("user_id,item_id\nu1,a\n,b\n", 3, "user_id"),
    ],
)
def test_bad_row_exits_2_naming_line_and_field_and_writes_nothing(
    store_url: str, tmp_path: Path, body: str, line: int, field: str
) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(body)
    res = _run("ingest", "--store", store_url, "--file", str(f))
    assert res.exit_code == 2
    msg = " ".join(res.output.split())
    assert f"line {line}" in msg and f"field '{field}'" in msg
    assert json.loads(_run("count", "--store", store_url, "--json").output)["events"] == 0


def test_bad_store_url_exits_2() -> None:
    res = _run("count", "--store", "mysql://db/x")
    assert res.exit_code == 2 and "expected sqlite:///PATH" in res.output

"""Loaders: every layout on tiny files, every bad-input case located by file/line/field."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rectune.data.loaders import default_data_dir, detect_format, load
from rectune.errors import DataError

GENRES = (
    "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
    "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\n"
    "Romance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n"
)


def _flags(*on: int) -> str:
    return "|".join("1" if g in on else "0" for g in range(19))


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def ml100k_dir(root: Path, data: str | None = None) -> Path:
    d = root / "ml-100k"
    write(d / "u.data", data or "1\t10\t4\t881250949\n1\t20\t3\t881250950\n2\t10\t5\t881250951\n")
    write(
        d / "u.item",
        f"10|Toy Story (1995)|01-Jan-1995||http://x|{_flags(3, 4, 5)}\n"
        f"20|Misérables, Les (1995)|01-Jan-1995||http://y|{_flags(8, 17)}\n"
        f"30|unknown|||http://z|{_flags(0)}\n",
        encoding="latin-1",
    )
    write(d / "u.genre", GENRES)
    write(d / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    return d


def ml1m_dir(root: Path) -> Path:
    d = root / "ml-1m"
    write(d / "ratings.dat", "1::10::5::978300760\n1::20::3::978302109\n2::20::4::978301968\n")
    write(
        d / "movies.dat",
        "10::Toy Story (1995)::Animation|Children's|Comedy\n"
        "20::Cité des enfants perdus, La (1995)::Adventure|Sci-Fi\n",
        encoding="latin-1",
    )
    write(d / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return d


def ml_latest_dir(root: Path) -> Path:
    d = root / "ml-latest-small"
    crlf = "\r\n"
    write(
        d / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,964982224\n",
        newline=crlf,
    )
    write(
        d / "movies.csv",
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,"American President, '
        'The (1995)",Comedy|Drama|Romance\n4,Nothing (2000),(no genres listed)\n',
        newline=crlf,
    )
    write(
        d / "tags.csv",
        "userId,movieId,tag,timestamp\n2,1,pixar,1\n3,1,Pixar,2\n2,1,fun,3\n2,3,politics,4\n",
        newline=crlf,
    )
    return d


def lastfm_dir(root: Path) -> Path:
    d = root / "lastfm"
    write(
        d / "user_artists.dat", "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t7\n"
    )
    write(
        d / "artists.dat",
        'id\tname\turl\tpictureURL\n51\tDuran "D" Duran\tu\tp\n52\tMorcheeba\tu\t\n',
    )
    write(d / "tags.dat", "tagID\ttagValue\n1\tnew wave\n2\ttrip-hop\n3\tdétente\n", "latin-1")
    write(
        d / "user_taggedartists.dat",
        "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t51\t1\t1\t4\t2009\n3\t51\t1\t1\t4\t2009\n"
        "2\t52\t2\t1\t4\t2009\n2\t52\t3\t1\t4\t2009\n2\t999\t2\t1\t4\t2009\n",
    )
    return d


# ---------------------------------------------------------------------------------- layouts
def test_ml100k(tmp_path: Path) -> None:
    data = load(ml100k_dir(tmp_path))
    assert (len(data), data.n_users, data.n_items, data.kind) == (3, 2, 2, "rating")
    assert data.source == str(tmp_path / "ml-100k") and data.meta["bad_rows"] == 0
    assert data.timestamps.tolist() == [881250949, 881250950, 881250951]
    assert data.item_text[10] == "Toy Story (1995) | Animation, Children's, Comedy"
    assert data.item_text[20] == "Misérables, Les (1995) | Drama, War"
    assert data.item_text[30] == "unknown"
    feats = data.item_features
    assert feats.loc[10, "Comedy"] == 1 and feats.loc[10, "Drama"] == 0
    assert feats.loc[10, "year"] == 1995 and np.isnan(feats.loc[30, "year"])
    users = data.user_features
    assert users.loc[2].tolist() == [53, "F", "other", "94043"]
    assert detect_format(tmp_path / "ml-100k") == ("ml-100k", tmp_path / "ml-100k")


def test_ml100k_ratings_file_alone(tmp_path: Path) -> None:
    f = write(tmp_path / "u.data", "1\t10\t4\t1\n")
    data = load(f)
    assert len(data) == 1 and data.item_text is None and data.source == str(tmp_path)


def test_ml1m(tmp_path: Path) -> None:
    data = load(ml1m_dir(tmp_path))
    assert (len(data), data.n_users, data.n_items) == (3, 2, 2)
    assert data.item_text[20] == "Cité des enfants perdus, La (1995) | Adventure, Sci-Fi"
    assert data.item_features.loc[10, "Animation"] == 1
    assert data.user_features.loc[2, "occupation"] == "self-employed"
    assert data.user_features.loc[1, "gender"] == "F"


def test_ml_latest_crlf_quotes_and_tags(tmp_path: Path) -> None:
    data = load(ml_latest_dir(tmp_path))
    assert data.values.tolist() == [4.0, 4.5, 0.5]
    assert data.meta["column_mapping"]["user_id"] == "userId"
    assert data.item_text[1] == "Toy Story (1995) | Adventure, Animation | tags: pixar, fun"
    assert data.item_text[3].startswith("American President, The (1995) | Comedy, Drama")
    assert data.item_text[4] == "Nothing (2000)"
    assert "(no genres listed)" not in data.item_features.columns
    assert data.item_features.loc[3, "year"] == 1995


def test_lastfm(tmp_path: Path) -> None:
    data = load(lastfm_dir(tmp_path))
    assert data.kind == "weight" and data.timestamps is None
    assert data.values.tolist() == [13883.0, 11690.0, 7.0]
    assert data.item_text[51] == 'Duran "D" Duran | tags: new wave'
    assert data.item_text[52] == "Morcheeba | tags: détente, trip-hop"


@pytest.mark.parametrize("sep", [",", "\t", ";", "|"])
def test_csv_any_delimiter_and_string_ids(tmp_path: Path, sep: str) -> None:
    rows = ["user", "item", "score", "time"], ["a", "x", "1.5", "10"], ["b", "x", "2", "11"]
    f = write(tmp_path / "r.txt", "\n".join(sep.join(r) for r in rows) + "\n")
    data = load(f)
    assert data.user_map.ids.tolist() == ["a", "b"] and data.values.tolist() == [1.5, 2.0]
    assert data.timestamps.tolist() == [10, 11] and data.meta["format"] == "csv"


def test_csv_column_mapping_weight_and_dates(tmp_path: Path) -> None:
    f = write(tmp_path / "plays.csv", "who,what,plays,when\n1,7,3,2020-01-02\n2,7,1,2020-01-03\n")
    data = load(
        f, columns={"user_id": "who", "item_id": "what", "weight": "plays", "timestamp": "when"}
    )
    assert data.kind == "weight" and data.values.tolist() == [3.0, 1.0]
    assert data.timestamps.tolist() == [1577923200, 1578009600]


def test_csv_without_values_is_implicit(tmp_path: Path) -> None:
    data = load(write(tmp_path / "r.csv", "user_id,item_id\n1,2\n1,3\n"))
    assert data.kind == "weight" and data.values.tolist() == [1.0, 1.0]


def test_parquet(tmp_path: Path) -> None:
    f = tmp_path / "r.parquet"
    pq.write_table(pa.table({"userID": ["a", "b"], "itemID": [1, 2], "rating": [3.0, 4.0]}), f)
    data = load(f)
    assert data.meta["format"] == "parquet" and data.user_ids.tolist() == ["a", "b"]
    assert load(f, kind="weight").kind == "weight"


def test_detect_format_and_bad_options(tmp_path: Path) -> None:
    assert detect_format(ml1m_dir(tmp_path))[0] == "ml-1m"
    assert detect_format(ml_latest_dir(tmp_path))[0] == "ml-latest"
    assert detect_format(lastfm_dir(tmp_path))[0] == "lastfm"
    assert detect_format(write(tmp_path / "x" / "a.tsv", "u\ti\n1\t2\n"))[0] == "csv"
    with pytest.raises(DataError, match="cannot tell the dataset layout"):
        detect_format(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="columns= applies"):
        load(tmp_path / "ml-1m", columns={"user_id": "u"})
    with pytest.raises(DataError, match="unknown keys"):
        load(tmp_path / "x" / "a.tsv", columns={"usr": "u"})


def test_default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECTUNE_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.setenv("RECTUNE_DATA_DIR", str(tmp_path / "nope"))
    assert default_data_dir() is None


# ---------------------------------------------------------------------------------- bad input
U_DATA_ERRORS = [
    # (content of u.data, line, field, message fragment)
    ("1\t10\t4\t1\n1\t11\t3\n", 2, None, "expected 4 tab-separated fields, found 3"),
    ("1\t10\t4\t1\n1\t11\t3\t2\t9\n", 2, None, "found 5"),
    ("1\t10\t4\t1\n1,11,3,2\n", 2, None, "looks comma-separated"),
    ("1\t10\t4\t1\n\n\n1\t11\tfive\t2\n", 4, "rating", "not a number: 'five'"),
    ("1\t10\t4\t1\n1\t11\t\t2\n", 2, "rating", "missing value"),
    ("1\t10\t4\t1\n1\t11\tnan\t2\n", 2, "rating", "not finite"),
    ("1\t10\t4\t1\n1\t11\tinf\t2\n", 2, "rating", "not finite"),
    ("1\t10\t4\t1\nx\t11\t3\t2\n", 2, "user_id", "not an integer: 'x'"),
    ("1\t10\t4\t1\n1\t11\t3\tyesterday\n", 2, "timestamp", "not an integer"),
    ("1\t10\t4\t1\n2\t10\t3\t2\n1\t10\t5\t3\n", 3, "user_id,item_id", "first seen on line 1"),
]


@pytest.mark.parametrize(("content", "line", "field", "fragment"), U_DATA_ERRORS)
def test_bad_u_data_is_located(
    tmp_path: Path, content: str, line: int, field: str | None, fragment: str
) -> None:
    d = ml100k_dir(tmp_path, content)
    with pytest.raises(DataError) as err:
        load(d)
    e = err.value
    assert (e.file, e.line, e.field) == (str(d / "u.data"), line, field)
    assert fragment in str(e) and f"line {line}" in str(e) and "u.data" in str(e)


@pytest.mark.parametrize(("content", "line", "field", "fragment"), U_DATA_ERRORS)
def test_skip_bad_rows_counts(
    tmp_path: Path, content: str, line: int, field: str | None, fragment: str
) -> None:
    data = load(ml100k_dir(tmp_path, content), skip_bad_rows=True)
    assert data.meta["bad_rows"] == 1
    assert len(data) == len([ln for ln in content.splitlines() if ln]) - 1
    assert f"line {line}" in data.meta["bad_row_examples"][0]


def test_skip_bad_rows_many_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = [f"{u}\t{i}\t3\t{u * 100 + i}" for u in range(1, 6) for i in range(1, 6)]
    bad = ["1\t1\t4\t1", "7\t7\tx\t1", "8\t8", "9\t9\t-inf\t1"]
    content = "\n".join(good[:10] + bad + good[10:]) + "\n"
    with caplog.at_level("WARNING"):
        data = load(ml100k_dir(tmp_path, content), skip_bad_rows=True)
    assert data.meta["bad_rows"] == 4 and len(data) == 25
    lines = [int(re.search(r"line (\d+)", e)[1]) for e in data.meta["bad_row_examples"]]
    assert lines == [11, 12, 13, 14]
    assert "skipped 4 bad rows" in caplog.text
    # The first of a duplicate pair is kept: user 1 item 1 keeps rating 3.
    assert data.values[(data.user_ids == 1) & (data.item_ids == 1)].tolist() == [3.0]


def test_wrong_separator(tmp_path: Path) -> None:
    d = ml100k_dir(tmp_path, "1,10,4,881250949\n")
    for skip in (False, True):
        with pytest.raises(DataError, match="expected tab-separated fields") as err:
            load(d, skip_bad_rows=skip)
        assert err.value.line == 1


@pytest.mark.parametrize("skip", [False, True])
def test_empty_files_always_raise(tmp_path: Path, skip: bool) -> None:
    with pytest.raises(DataError, match="file is empty") as err:
        load(ml100k_dir(tmp_path, " "), skip_bad_rows=skip)
    assert err.value.file.endswith("u.data")
    (tmp_path / "ml-100k" / "u.data").write_text("")
    with pytest.raises(DataError, match="file is empty"):
        load(tmp_path / "ml-100k", skip_bad_rows=skip)
    f = write(tmp_path / "h.csv", "user_id,item_id,rating\n")
    with pytest.raises(DataError, match="no data rows after the header") as err:
        load(f, skip_bad_rows=skip)
    assert err.value.line == 2


@pytest.mark.parametrize("skip", [False, True])
def test_missing_column_always_raises(tmp_path: Path, skip: bool) -> None:
    f = write(tmp_path / "r.csv", "person,item_id,rating\n1,2,3\n")
    with pytest.raises(DataError, match="no user_id column") as err:
        load(f, skip_bad_rows=skip)
    assert (err.value.file, err.value.line, err.value.field) == (str(f), 1, "user_id")
    with pytest.raises(DataError, match="'stars'") as err:
        load(f, columns={"user_id": "person", "rating": "stars"}, skip_bad_rows=skip)
    assert err.value.field == "stars"


def test_csv_lines_count_header_and_quoted_newlines(tmp_path: Path) -> None:
    f = write(
        tmp_path / "r.csv",
        'userId,movieId,rating,note\n1,2,3,"two\nlines"\n1,3,4,ok\n1,4,oops,x\n',
        newline="\r\n",
    )
    with pytest.raises(DataError) as err:
        load(f)
    assert (err.value.line, err.value.field) == (5, "rating")
    assert "not a number: 'oops'" in str(err.value)


def test_csv_duplicate_names_both_lines(tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", "user,item,rating\na,x,1\nb,x,2\nc,y,3\nb,x,4\n")
    with pytest.raises(DataError) as err:
        load(f)
    assert err.value.line == 5 and "('b', 'x')" in str(err.value)
    assert "first seen on line 3" in str(err.value)
    data = load(f, skip_bad_rows=True)
    assert len(data) == 3 and data.meta["bad_rows"] == 1


def test_first_error_is_the_earliest_line(tmp_path: Path) -> None:
    content = "1\t1\t1\t1\n1\t2\t2\t2\n1\t1\t3\t3\n1\t3\tbad\t4\n1\t4\n"
    with pytest.raises(DataError) as err:
        load(ml100k_dir(tmp_path, content))
    assert err.value.line == 3 and "duplicate" in str(err.value)


def test_bad_side_file_is_located(tmp_path: Path) -> None:
    d = ml100k_dir(tmp_path)
    write(d / "u.user", "1|24|M|technician|85711\n2|fifty|F|other|94043\n")
    with pytest.raises(DataError) as err:
        load(d)
    assert (err.value.file, err.value.line, err.value.field) == (str(d / "u.user"), 2, "age")
    data = load(d, skip_bad_rows=True)
    assert data.meta["bad_rows"] == 1 and list(data.user_features.index) == [1]


def test_parquet_bad_rows_use_row_numbers(tmp_path: Path) -> None:
    f = tmp_path / "r.parquet"
    table = pa.table({"user_id": [1, None, 3, 1], "item_id": [1, 2, 3, 1], "rating": [1.0] * 4})
    pq.write_table(table, f)
    with pytest.raises(DataError) as err:
        load(f)
    assert (err.value.line, err.value.field) == (2, "user_id")
    data = load(f, skip_bad_rows=True)
    assert data.meta["bad_rows"] == 2 and len(data) == 2


def test_parquet_missing_column_and_empty(tmp_path: Path) -> None:
    f = tmp_path / "r.parquet"
    pq.write_table(pa.table({"user_id": [1], "thing": [2]}), f)
    with pytest.raises(DataError, match="no item_id column"):
        load(f)
    pq.write_table(
        pa.table({"user_id": pa.array([], pa.int64()), "item": pa.array([], pa.int64())}), f
    )
    with pytest.raises(DataError, match="no data rows"):
        load(f)


def test_larger_file_error_deep_inside(tmp_path: Path) -> None:
    n = 50_000
    users = np.arange(n) // 50 + 1
    items = np.arange(n) % 50 + 1
    lines = [f"{u}\t{i}\t3\t{k}" for k, (u, i) in enumerate(zip(users, items, strict=True))]
    lines[40_000] = lines[40_000].replace("\t3\t", "\t3.x\t")
    d = ml100k_dir(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load(d)
    assert (err.value.line, err.value.field) == (40_001, "rating")
    assert len(load(d, skip_bad_rows=True)) == n - 1


# ---------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_ml100k(data_dir: Path) -> None:
    path = data_dir / "ml-100k"
    if not path.is_dir():
        pytest.skip("ml-100k not found")
    data = load(path)
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1682)
    assert data.meta["bad_rows"] == 0 and data.kind == "rating"
    assert np.bincount(data.values.astype(int)).tolist() == [0, 6110, 11370, 27145, 34174, 21201]
    assert (data.timestamps.min(), data.timestamps.max()) == (874724710, 893286638)
    assert data.item_text[1] == "Toy Story (1995) | Animation, Children's, Comedy"
    assert len(data.item_text) == 1682 and data.item_features.shape == (1682, 20)
    assert data.user_features.shape == (943, 4)
    assert (data.user_features["gender"] == "M").sum() == 670


@pytest.mark.realdata
def test_real_ml_latest_small(data_dir: Path) -> None:
    path = data_dir / "ml-latest-small"
    if not path.is_dir():
        pytest.skip("ml-latest-small not found")
    data = load(path)
    stats = data.stats()
    assert (len(data), stats["users"], stats["items"]) == (100_836, 610, 9_724)
    assert data.values.min() == 0.5 and data.values.max() == 5.0
    assert "pixar" in data.item_text[1] and "tags:" in data.item_text[1]
    assert data.item_text.str.contains("tags:").sum() > 1000


@pytest.mark.realdata
def test_real_lastfm(data_dir: Path) -> None:
    path = data_dir / "lastfm-hetrec2011-2k"
    if not path.is_dir():
        pytest.skip("lastfm not found")
    data = load(path)
    assert (len(data), data.n_users, data.n_items) == (92_834, 1_892, 17_632)
    assert data.kind == "weight" and data.timestamps is None
    assert data.values.min() == 1 and data.values.max() == 352_698


# ---------------------------------------------------------------------------------- non-finite
def test_parquet_nan_and_inf_ids_are_bad_rows_not_ids(tmp_path: Path) -> None:
    # A float id column (pandas writes one when an int column holds a NaN) used to give the
    # string ids "nan" and "inf"; they are bad rows like an empty cell.
    f = tmp_path / "r.parquet"
    users = pa.array([1.0, np.nan, 3.0, 4.0])
    items = pa.array([1.0, 2.0, np.inf, 4.0])
    pq.write_table(pa.table({"user_id": users, "item_id": items, "rating": [1.0] * 4}), f)
    with pytest.raises(DataError) as err:
        load(f)
    assert (err.value.line, err.value.field) == (2, "user_id")
    assert "missing value" in str(err.value)
    data = load(f, skip_bad_rows=True)
    assert data.meta["bad_rows"] == 2 and data.user_ids.tolist() == [1, 4]
    assert "line 3, field 'item_id': not finite: inf" in data.meta["bad_row_examples"][1]


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf"])
def test_csv_and_parquet_non_finite_ratings_skip_or_raise(tmp_path: Path, bad: str) -> None:
    f = write(tmp_path / "r.csv", f"user,item,rating\n1,1,4\n1,2,{bad}\n2,1,3\n")
    with pytest.raises(DataError, match=r"line 3, field 'rating'.*not finite"):
        load(f)
    data = load(f, skip_bad_rows=True)
    assert data.meta["bad_rows"] == 1 and np.isfinite(data.values).all() and len(data) == 2
    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"u": [1, 1, 2], "i": [1, 2, 1], "rating": [4, float(bad), 3]}), p)
    with pytest.raises(DataError, match=r"line 2, field 'rating'.*not finite"):
        load(p, columns={"user_id": "u", "item_id": "i"})
    data = load(p, columns={"user_id": "u", "item_id": "i"}, skip_bad_rows=True)
    assert data.meta["bad_rows"] == 1 and data.values.tolist() == [4.0, 3.0]


def test_cli_skip_bad_rows_counts_a_nan_rating(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from rectune.cli.main import app

    f = write(tmp_path / "r.csv", "user,item,rating\n1,1,4\n1,2,nan\n2,1,3\n")
    runner = CliRunner()
    refused = runner.invoke(app, ["data", "stats", "--data", str(f), "--json"])
    message = " ".join(refused.output.split())  # rich wraps long lines
    assert refused.exit_code == 2 and "line 3, field 'rating'" in message
    skipped = runner.invoke(app, ["data", "stats", "--data", str(f), "--json", "--skip-bad-rows"])
    assert skipped.exit_code == 0, skipped.output
    info = json.loads(skipped.stdout[skipped.stdout.index("{") :])
    assert info["bad_rows"] == 1 and info["interactions"] == 2 and info["value_max"] == 4.0

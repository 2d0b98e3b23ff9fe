"""``rectune registry``: the command spellings, the list JSON, refusals and errors (exit 2)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rectune.cli.main import app
from tests.online.registry_fixtures import split_data, train_svd

runner = CliRunner()
KEYS = {"version", "aliases", "parent", "created_at", "events", "metrics", "guard"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("clireg")
    train, test = split_data()
    train_svd(train, root / "good")
    train_svd(train, root / "poor", epochs=1)
    test.to_frame().to_csv(root / "held_out.csv", index=False)
    return root


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["registry", *map(str, args)])


def test_registry_commands_end_to_end(world, tmp_path) -> None:
    reg = tmp_path / "reg"
    assert run("init", reg, "--from", world / "good").exit_code == 0
    res = run("add", reg, world / "poor", "--parent", "1", "--first-seq", "1", "--last-seq", "500")
    assert res.exit_code == 0 and "version 2" in res.output
    assert run("add", reg, world / "good", "--first-seq", "501", "--last-seq", "900").exit_code == 0
    rows = json.loads(run("list", reg, "--json").output)
    assert [set(r) for r in rows] == [KEYS] * 3
    assert rows[1]["events"] == {"first_seq": 1, "last_seq": 500, "count": 500}
    assert rows[1]["parent"] == 1 and rows[0]["aliases"] == ["champion"]

    data = world / "held_out.csv"
    refused = run("promote", reg, "2", "--guard", "rmse<=+0.005", "--data", data)
    assert refused.exit_code == 2
    line = refused.output.strip()
    assert "\n" not in line and "rmse" in line and "(candidate)" in line and "(current)" in line
    rec = [json.loads(x) for x in (reg / "audit.jsonl").read_text().splitlines()][-1]
    assert f"{rec['checks'][0]['candidate']:.6g}" in line
    assert f"{rec['checks'][0]['current']:.6g}" in line
    assert json.loads(run("list", reg, "--json").output)[0]["aliases"] == ["champion"]

    ok = run("promote", reg, "3", "--guard", "rmse<=+0.005,ndcg@10>=-0.01", "--data", data)
    assert ok.exit_code == 0, ok.output
    assert run("promote", reg, "2", "--alias", "challenger", "--force").exit_code == 0
    rows = json.loads(run("list", reg, "--json").output)
    assert rows[2]["aliases"] == ["champion"] and rows[1]["aliases"] == ["challenger"]
    assert rows[2]["guard"]["guard"] == "rmse<=+0.005,ndcg@10>=-0.01"

    assert run("rollback", reg).exit_code == 0
    assert json.loads(run("list", reg, "--json").output)[0]["aliases"] == ["champion"]
    again = run("rollback", reg)
    assert again.exit_code == 2 and "no previous target" in again.output
    assert run("add", reg, world / "good").exit_code == 0
    res = run("gc", reg, "--keep", "1")  # 3: neither aliased, a rollback target nor the newest
    assert res.exit_code == 0 and "deleted 1 version(s): [3]" in res.output
    plain = run("list", reg)
    assert plain.exit_code == 0 and "[champion]" in plain.output and "[challenger]" in plain.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["promote", "{reg}", "1", "--guard", "rmse<0.1"], "expected METRIC"),
        (["promote", "{reg}", "1", "--guard", "rmse<=+0.1"], "held-out"),
        (["promote", "{reg}", "7"], "no version 7"),
        (["add", "{reg}", "{reg}/nothing"], "not an artifact"),
        (["add", "{reg}", "{good}", "--first-seq", "3"], "both first_seq and last_seq"),
        (["list", "{reg}/nope"], "not a registry"),
        (["init", "{reg}", "--from", "{good}"], "not an empty directory"),
        (["gc", "{reg}", "--keep", "0"], "at least 1"),
    ],
)
def test_errors_are_one_line_exit_2(world, tmp_path, args, needle) -> None:
    reg = tmp_path / "reg"
    assert run("init", reg, "--from", world / "good").exit_code == 0
    res = run(*[a.format(reg=reg, good=world / "good") for a in args])
    assert res.exit_code == 2, res.output
    assert needle in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_promote_scores_the_store_events_neither_version_consumed(world, tmp_path) -> None:
    """``--store``: the guard's held-out events are the stored ones after both versions'
    consumed ranges (here the 336 held-out rows stored after the 1,344 training rows)."""
    from rectune.online import EventStore

    train, test = split_data()
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with EventStore(url) as store:
        store.append(train)
        trained_through = store.append(test)["last_seq"] - len(test)
    reg = tmp_path / "reg"
    assert run("init", reg, "--from", world / "good").exit_code == 0
    for art in ("poor", "good"):
        res = run("add", reg, world / art, "--first-seq", "1", "--last-seq", trained_through)
        assert res.exit_code == 0, res.output
    refused = run("promote", reg, "2", "--guard", "rmse<=+0.005", "--store", url)
    assert refused.exit_code == 2 and "rmse" in refused.output, refused.output
    rec = [json.loads(x) for x in (reg / "audit.jsonl").read_text().splitlines()][-1]
    assert rec["checks"][0]["candidate"] > rec["checks"][0]["current"] + 0.005
    ok = run("promote", reg, "3", "--guard", "rmse<=+0.005", "--store", url, "--newest", "200")
    assert ok.exit_code == 0, ok.output
    # v3 consumed through the last training row: only the 336 later events judge it; a
    # version that consumed everything leaves nothing to judge by
    everything = str(trained_through + len(test))
    assert (
        run("add", reg, world / "good", "--first-seq", "1", "--last-seq", everything).exit_code == 0
    )
    none_left = run("promote", reg, "4", "--store", url)
    assert none_left.exit_code == 2 and f"after seq {everything}" in none_left.output
    both = run("promote", reg, "3", "--store", url, "--data", world / "held_out.csv")
    assert both.exit_code == 2 and "pass one" in both.output
    assert "--newest needs --store" in run("promote", reg, "3", "--newest", "5").output

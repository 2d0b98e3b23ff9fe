"""`rectune serve --demo`: train, serve on SQLite, stream events in, see promotions."""

from __future__ import annotations

from rectune.data.synthetic import generate
from rectune.online import Registry
from rectune.serving.demo import run_demo


def test_demo_streams_events_and_promotes(tmp_path) -> None:
    data = generate(200, 120, 6000, seed=1, with_features=False)
    lines: list[str] = []
    report = run_demo(tmp_path, data, seconds=6.0, rate=400.0, say=lines.append)
    assert lines[0].startswith("dashboard: http://127.0.0.1:")
    assert report["sent"] >= 1000
    reg = Registry(tmp_path / "reg")
    assert reg.aliases["champion"] > 1  # the updater promoted what was streamed
    assert any(line.startswith("v2:") for line in lines)
    champion = reg.resolve("champion")
    assert champion.metrics["prequential"]["n"] > 0
